/**
 * `canto start` with `[cluster] redis`: this process is one node of a Redis-backed cluster
 * (docs/scaling.md). It takes its node lease (refusing to start when another live node holds the
 * same node_id), boots a Server linked to the Redis engine and runs until SIGTERM/SIGINT. While
 * it has no lease (Redis unreachable for longer than the lease) it is fenced: its client sessions
 * are closed and new bindings refused, until it rejoins.
 * With `[cluster] workers = N` the same runs in each of N processes forked by
 * src/cluster/local-nodes.ts (`local`): node_id `{node_id}-{k}`, ports shared through node:cluster.
 */
import { hostname } from 'node:os';
import type { CantoConfig } from '../core/config.js';
import type { Logger } from '../core/logging.js';
import type { Server } from '../core/server.js';
import type { Session } from '../core/session.js';
import { bootServer } from '../app/boot.js';
import type { RedisEngine } from '../cluster/redis/engine.js';
import { ClusterWorker } from '../cluster/worker.js';
import { ServicePlacement } from '../cluster/redis/placement.js';
import { SmTakeover } from '../cluster/redis/sm-takeover.js';
import { DirectedPresenceRecords } from '../cluster/redis/directed-presence.js';
import { untilSignalled } from './until-signal.js';
import { Reloader } from '../app/reload.js';
import { LOCAL_NODE_READY, localNodeId } from '../cluster/local-nodes.js';

/** A restarted local node waits at most its lease and this long for its dead predecessor's lease to run out. */
const RESTART_LEASE_SLACK_MS = 2000;
const RESTART_RETRY_MS = 500;

/** This process is local node k of `[cluster] workers = N` on one machine (src/cluster/local-nodes.ts). */
export interface LocalNodeOptions {
  index: number;
  /** The previous process of this node died (its parent saw it exit): wait for its lease rather than refuse. */
  restarted: boolean;
}

/** The node id: `[cluster] node_id`, else the host name (which config validation cannot see). */
export function nodeIdOf(config: CantoConfig): string {
  return config.cluster.node_id ?? hostname();
}

export async function runNode(config: CantoConfig, redisUrl: string, baseLog: Logger, file?: string, local?: LocalNodeOptions): Promise<number> {
  const nodeId = local ? localNodeId(nodeIdOf(config), local.index) : nodeIdOf(config);
  const log = baseLog.child({ node: nodeId });
  if (local) {
    // The parent stops every local node with SIGTERM; a terminal's Ctrl-C reaches the whole group.
    process.on('SIGINT', () => {});
    // BOSH sessions are per-process state and node:cluster hands connections round-robin, so
    // one local node (1) serves HTTP (BOSH, WebSocket, uploads, the admin API), as under the retired relay.
    if (local.index > 1) config = { ...config, http: { ...config.http, ports: [], tls_ports: [] } };
  }
  // Loaded only on a Redis node: the Redis client adds ~20 MiB to every process that imports it.
  const { RedisEngine, NodeIdTakenError } = await import('../cluster/redis/engine.js');
  let engine: RedisEngine;
  const leaseMs = config.cluster.lease;
  const waitUntil = Date.now() + (local?.restarted ? leaseMs + RESTART_LEASE_SLACK_MS : 0);
  for (;;) {
    // Renewed four times per lease: one lost round trip never costs it.
    engine = new RedisEngine({ url: redisUrl, nodeId, log, leaseMs, heartbeatMs: Math.round(leaseMs / 4) });
    try {
      await engine.start();
      break;
    } catch (err) {
      if (err instanceof NodeIdTakenError && Date.now() < waitUntil) {
        log.info('waiting for the lease of this node\'s previous process to run out');
        await new Promise((r) => setTimeout(r, RESTART_RETRY_MS));
        continue;
      }
      const why = err instanceof NodeIdTakenError ? err.message : `cannot reach Redis at ${redactUrl(redisUrl)}: ${(err as Error).message}`;
      log.fatal({ err: why }, 'could not start');
      return 1;
    }
  }
  const placement = new ServicePlacement(engine, log);
  const directed = new DirectedPresenceRecords(engine, log);
  const link: ClusterWorker = new ClusterWorker(nodeId, 1, engine, log, {
    serviceWorker: true, selfRef: () => engine.self, routeReplies: true,
    onAttach: (server) => {
      placement.install(server, link);
      directed.install(server);
    },
  });
  const takeover = new SmTakeover(engine, link, log);
  link.sessionMover = takeover;
  let server: Server;
  try {
    server = await bootServer({ config, log, cluster: link });
  } catch (err) {
    await engine.stop();
    log.fatal({ err: (err as Error).message }, 'could not start');
    return 1;
  }
  fenceWith(server, engine);
  link.ready();
  log.info({ node_id: nodeId, member: engine.self }, 'cluster node started: accepting connections');
  if (local) process.send?.(LOCAL_NODE_READY);
  // Local nodes are not reloaded (`canto reload` refuses workers > 1): all of them or none would have to apply a file.
  const reloader = local ? undefined : new Reloader(server, file, log).start();
  return untilSignalled(log, async (signal) => {
    reloader?.close();
    takeover.close();
    await server.stop(`received ${signal}`);
    await engine.stop();
  }, local ? ['SIGTERM'] : ['SIGTERM', 'SIGINT']);
}

/**
 * Without a lease: close the client sessions (they reconnect, maybe to another node) and refuse
 * new work — a login is answered with a `system-shutdown` stream error, a bind is refused.
 */
function fenceWith(server: Server, engine: RedisEngine): void {
  const FENCED = 'this server node has lost its cluster lease (Redis unreachable); try another node';
  const refuseLogin = ({ session }: { session: Session }): true | undefined => {
    if (!engine.fenced) return undefined;
    if ('close' in session) session.close({ condition: 'system-shutdown', text: FENCED });
    return true;
  };
  const refuseBind = (): true | undefined => (engine.fenced ? true : undefined);
  const guard = (host: string): void => {
    const events = server.hosts.get(host)?.events;
    events?.on('pre-authenticated', refuseLogin, 1000);
    events?.on('pre-resource-bind', refuseBind, 1000);
  };
  for (const host of server.hosts.keys()) guard(host);
  server.events.on('host-activated', ({ host }) => guard(host));
  engine.onFence = (reason) => {
    for (const s of [...server.sessions.all]) {
      if (s.type === 'c2s') s.close({ condition: 'system-shutdown', text: `this server node lost its cluster lease: ${reason}` });
    }
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
