/**
 * Canto nodes of a Redis-backed cluster as real `canto start` processes (docs/scaling.md): each
 * on its own loopback address, all sharing one storage (`extra` carries a `[storage]` table: the
 * Redis cluster test uses PostgreSQL; without one, the nodes share the SQLite file in data_dir) and
 * one Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CANTO_BIN } from './cli.js';
import { freeLoopbackPort } from './redis-server.js';

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

export interface CantoNode {
  readonly nodeId: string;
  readonly address: string;
  readonly port: number;
  readonly configFile: string;
  child: ChildProcess;
  lines: LogLine[];
  exited: Promise<number | null>;
  /** xmpp.js service URL of this node's c2s port. */
  readonly service: string;
  /** The XEP-0114 component listener's port on `address` (NodeSpec.componentListener), else undefined. */
  readonly componentPort: number | undefined;
  /** Wait for a log line of the current process (throws with the log on timeout). */
  waitForLine(test: (l: LogLine) => boolean, ms: number): Promise<LogLine>;
  /** Start the process again (same config), e.g. after kill(). */
  restart(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/** Collect a `canto start` child's JSON log lines from its stdout into `lines` (non-JSON lines as `msg`). */
export function collectLogLines(child: ChildProcess, lines: LogLine[]): void {
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
}

export interface NodeSpec {
  nodeId: string;
  address: string;
  dir: string;
  dataDir: string;
  redisUrl: string;
  /** Lines added to the config file (more tables). */
  extra?: string;
  /** The `[s2s]` table's lines (sub-tables such as `[s2s.hosts]` may follow); default: no ports. */
  s2s?: string;
  /** The `[http]` table's lines; default: no ports. */
  http?: string;
  /** Lines added to the `[c2s]` table (e.g. `max_unauthed_per_ip = 3`). */
  c2s?: string;
  /** Resolve only once this line is logged (default: the node accepts connections). */
  readyLine?: string;
  /** Open the XEP-0114 component listener on `address` (a free port; CantoNode.componentPort). */
  componentListener?: boolean;
}

export function nodeConfig(spec: NodeSpec, port: number, componentPort?: number): string {
  return `data_dir = "${spec.dataDir}"
log_level = "info"
log_format = "json"
[c2s]
interfaces = ["${spec.address}"]
ports = [${port}]
direct_tls_ports = []
${spec.c2s ?? ''}
[component_listener]
${componentPort === undefined ? 'ports = []' : `interfaces = ["${spec.address}"]\nports = [${componentPort}]`}
[http]
${spec.http ?? 'ports = []\ntls_ports = []'}
[auth]
scram_iterations = 4096
# Out of the tests' way, as in the test kit's config (src/testing/harness.ts; docs/abuse.md).
[modules.limits.c2s]
stanzas_per_second = 1000000
stanza_burst = 1000000
bytes_per_second = 1000000000
byte_burst = 1000000000
[modules.limits.account]
messages_to_strangers_per_hour = 0
subscriptions_per_hour = 0
muc_joins_per_minute = 0
[cluster]
redis = "${spec.redisUrl}"
node_id = "${spec.nodeId}"
${spec.extra ?? ''}
[s2s]
${spec.s2s ?? 'ports = []'}
`;
}

export async function startNode(spec: NodeSpec): Promise<CantoNode> {
  const port = await freeLoopbackPort(spec.address);
  const componentPort = spec.componentListener === true ? await freeLoopbackPort(spec.address) : undefined;
  const configFile = join(spec.dir, `${spec.nodeId}.toml`);
  writeFileSync(configFile, nodeConfig(spec, port, componentPort));
  const node: CantoNode = {
    nodeId: spec.nodeId,
    address: spec.address,
    port,
    configFile,
    child: undefined as unknown as ChildProcess,
    lines: [],
    exited: Promise.resolve(null),
    service: `xmpp://${spec.address}:${port}`,
    componentPort,
    waitForLine(test, ms) {
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + ms;
        const poll = () => {
          const hit = node.lines.find(test);
          if (hit) return resolve(hit);
          if (Date.now() > deadline) return reject(new Error(`${spec.nodeId}: log line not seen within ${ms} ms; log:\n${node.lines.map((l) => JSON.stringify(l)).join('\n')}`));
          setTimeout(poll, 25);
        };
        poll();
      });
    },
    async restart() {
      launch();
      await node.waitForLine((l) => l.msg === (spec.readyLine ?? 'cluster node started: accepting connections'), 20_000);
    },
    kill(signal) {
      // Not once it has exited (by itself or by a signal): the PID may be gone (ESRCH) or reused.
      if (node.child.exitCode === null && node.child.signalCode === null && node.child.pid !== undefined) process.kill(node.child.pid, signal);
    },
  };
  const launch = () => {
    const child = spawn(process.execPath, [CANTO_BIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    node.child = child;
    node.lines = [];
    const lines = node.lines;
    collectLogLines(child, lines);
    node.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  };
  await node.restart();
  return node;
}

/** Stop a node gracefully (SIGTERM), SIGKILL after 10 s; resolves with its exit code. */
export async function stopNode(node: CantoNode): Promise<number | null> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return node.child.exitCode;
  node.kill('SIGTERM');
  const timer = setTimeout(() => node.kill('SIGKILL'), 10_000);
  const code = await node.exited;
  clearTimeout(timer);
  return code;
}
