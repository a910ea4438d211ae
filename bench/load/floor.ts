/**
 * The machine's floors: what a trivial server in its own process, doing almost nothing, gets
 * from this load generator on this machine. They bound what any XMPP server can show in the
 * scenarios that measure one round trip (mam) or whole TLS connections (login, login-fast):
 *
 * - `roundTripFloor`: one request in flight; the server spends `workMs` of CPU and answers
 *   with 51 writes of `pageBytes / 51` bytes (a 50-item MAM page and its iq result), the client
 *   waits for the last one. Its p99 is the scheduling and loopback noise every MAM page meets.
 * - `tlsHandshakeFloor`: TLS handshakes per second with `concurrency` in flight, each a full
 *   handshake (or a resumed one), one byte each way, closed; the server's certificate is a
 *   P-256 one as Canto makes. No login can be faster than the connection it runs on.
 *
 * Written by hand: a floor is two sockets and a loop; no benchmarking library measures this.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { Latencies, nowMs } from './stats.js';

const ITEMS = 51;

type ServerMode = { kind: 'round-trip'; pageBytes: number; workMs: number } | { kind: 'tls'; key: string; cert: string };
type FromServer = { port: number } | { cpuSeconds: number };

/** The child's side: listen, say the port, answer 'cpu' with its CPU seconds so far. */
function serve(mode: ServerMode): void {
  const reply = (port: number) => process.send?.({ port } satisfies FromServer);
  process.on('message', (m) => {
    if (m !== 'cpu') return;
    const u = process.cpuUsage();
    process.send?.({ cpuSeconds: (u.user + u.system) / 1e6 } satisfies FromServer);
  });
  if (mode.kind === 'round-trip') {
    const item = 'x'.repeat(Math.max(1, Math.floor(mode.pageBytes / ITEMS)));
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('data', () => {
        const until = performance.now() + mode.workMs;
        while (performance.now() < until); // the server's own work on the request
        for (let i = 0; i < ITEMS - 1; i++) socket.write(item);
        socket.write(`${item}.`);
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => reply((server.address() as AddressInfo).port));
  } else {
    const server = createTlsServer({ key: readFileSync(mode.key), cert: readFileSync(mode.cert) }, (socket) => {
      socket.once('data', () => socket.end('y'));
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => reply((server.address() as AddressInfo).port));
  }
}

class FloorServer {
  private constructor(private readonly child: ChildProcess, readonly port: number) {}

  static async start(mode: ServerMode): Promise<FloorServer> {
    const child = fork(fileURLToPath(import.meta.url), ['floor-server', JSON.stringify(mode)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: FromServer) => ('port' in m ? resolve(m.port) : reject(new Error('floor server: no port'))));
      child.once('exit', (code) => reject(new Error(`floor server exited (${code})`)));
    });
    return new FloorServer(child, port);
  }

  cpuSeconds(): Promise<number> {
    return new Promise((resolve) => {
      this.child.once('message', (m: FromServer) => resolve('cpuSeconds' in m ? m.cpuSeconds : Number.NaN));
      this.child.send('cpu');
    });
  }

  stop(): void {
    this.child.kill();
  }
}

/** p50 and p99 (ms) of `queries` round trips after `warmup` untimed ones. */
export async function roundTripFloor(opts: { pageBytes: number; workMs: number; queries: number; warmup?: number }): Promise<{ p50: number; p99: number }> {
  const server = await FloorServer.start({ kind: 'round-trip', pageBytes: opts.pageBytes, workMs: opts.workMs });
  const socket: Socket = netConnect(server.port, '127.0.0.1');
  try {
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const latencies = new Latencies();
    const warmup = opts.warmup ?? 30;
    for (let i = 0; i < warmup + opts.queries; i++) {
      const t0 = nowMs();
      await new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          if (chunk[chunk.length - 1] !== 0x2e) return; // '.' ends the last write
          socket.off('data', onData);
          resolve();
        };
        socket.on('data', onData);
        socket.write('q');
      });
      if (i >= warmup) latencies.add(nowMs() - t0);
    }
    return { p50: latencies.quantile(0.5), p99: latencies.quantile(0.99) };
  } finally {
    socket.destroy();
    server.stop();
  }
}

/** Handshakes per second over `seconds`, and the trivial server's CPU per handshake (ms). */
export async function tlsHandshakeFloor(opts: { seconds: number; concurrency: number; resume: boolean }): Promise<{ perSecond: number; serverCpuMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'canto-floor-'));
  const paths = { certificate: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await makeSelfSigned('localhost', paths, 2);
  const server = await FloorServer.start({ kind: 'tls', key: paths.key, cert: paths.certificate });
  try {
    const context = createSecureContext({});
    let session: Buffer | undefined;
    let done = 0;
    const one = () => new Promise<void>((resolve) => {
      const socket = tlsConnect({ port: server.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, secureContext: context, session: opts.resume ? session : undefined });
      socket.on('session', (s: Buffer) => (session = s));
      socket.once('secureConnect', () => socket.write('x'));
      socket.once('data', () => {
        done++;
        socket.destroy();
        resolve();
      });
      socket.once('error', () => resolve());
    });
    const cpu0 = await server.cpuSeconds();
    const t0 = nowMs();
    const until = t0 + opts.seconds * 1000;
    await Promise.all(Array.from({ length: opts.concurrency }, async () => {
      while (nowMs() < until) await one();
    }));
    const elapsed = (nowMs() - t0) / 1000;
    const cpu = (await server.cpuSeconds()) - cpu0;
    return { perSecond: done / elapsed, serverCpuMs: (cpu / Math.max(1, done)) * 1000 };
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'floor-server') serve(JSON.parse(process.argv[3] ?? '{}') as ServerMode);
