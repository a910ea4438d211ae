/**
 * `canto start` with `[cluster] redis`: this process is one node of a Redis-backed cluster
 * (docs/scaling.md). It takes its node lease (refusing to start when another live node holds the
 * same node_id), boots a Server linked to the Redis engine and runs until SIGTERM/SIGINT. While
 * it has no lease (Redis unreachable for longer than the lease) it is fenced: its client sessions
 * are closed and new bindings refused, until it rejoins.
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

/** The node id: `[cluster] node_id`, else the host name (which config validation cannot see). */
export function nodeIdOf(config: CantoConfig): string {
  return config.cluster.node_id ?? hostname();
}

export async function runNode(config: CantoConfig, redisUrl: string, baseLog: Logger, file?: string): Promise<number> {
  const nodeId = nodeIdOf(config);
  const log = baseLog.child({ node: nodeId });
  // Loaded only on a Redis node: the Redis client adds ~20 MiB to every process that imports it.
  const { RedisEngine, NodeIdTakenError } = await import('../cluster/redis/engine.js');
  const engine = new RedisEngine({ url: redisUrl, nodeId, log });
  try {
    await engine.start();
  } catch (err) {
    const why = err instanceof NodeIdTakenError ? err.message : `cannot reach Redis at ${redactUrl(redisUrl)}: ${(err as Error).message}`;
    log.fatal({ err: why }, 'could not start');
    return 1;
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
  const reloader = new Reloader(server, file, log).start();
  return untilSignalled(log, async (signal) => {
    reloader.close();
    takeover.close();
    await server.stop(`received ${signal}`);
    await engine.stop();
  });
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
