/**
 * A private DNS server on loopback for tests: Debian's dnsmasq (package dnsmasq-base, installed by
 * scripts/install-test-deps.sh), in the foreground on a free UDP port of 127.0.0.1, answering only
 * from the records given (everything under .test is local: unknown names are NXDOMAIN), stopped
 * by its PID. In CI a missing dnsmasq fails the test; elsewhere the test is skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { waitFor } from '../../src/testing/index.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';

/** A reason to skip, or false; in CI a missing dnsmasq throws instead. */
export function dnsmasqSkip(): string | false {
  if (existsSync(DNSMASQ)) return false;
  if (process.env.CI) throw new Error('dnsmasq is not installed (run scripts/install-test-deps.sh): the DNS tests cannot run');
  return 'dnsmasq not installed (scripts/install-test-deps.sh installs dnsmasq-base); skipping the DNS tests';
}

export interface DnsRecords {
  /** name → IPv4 address */
  hosts?: Record<string, string>;
  /** SRV records: name (e.g. _xmpp-server._tcp.b.test), then target, port, priority, weight; no target: the "." record. */
  srv?: Array<{ name: string; target?: string; port?: number; priority?: number; weight?: number }>;
}

export interface TestDns {
  /** "127.0.0.1:port", for `[s2s] dns_servers` or Resolver.setServers. */
  readonly server: string;
  /** What dnsmasq wrote (with CANTO_DNS_LOG=1 in the environment, every query it answered). */
  log(): string;
  stop(): Promise<void>;
}

/** A free UDP port on 127.0.0.1 (closed again before dnsmasq binds it). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Start dnsmasq with `records`. dnsmasq binds the port on UDP and TCP; a port found free on UDP
 * can be taken on TCP by a parallel test, so without a fixed `port` a few fresh ports are tried.
 */
export async function startDns(records: DnsRecords, port?: number): Promise<TestDns> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDnsOn(records, port ?? (await freeUdpPort()));
    } catch (err) {
      if (port !== undefined || attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startDnsOn(records: DnsRecords, p: number): Promise<TestDns> {
  const args = [...(process.env.CANTO_DNS_LOG ? ['--log-queries'] : []), '-k', `--port=${p}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '-C', '/dev/null', '--pid-file=', '--log-facility=-', '--local=/test/'];
  for (const [name, ip] of Object.entries(records.hosts ?? {})) args.push(`--host-record=${name},${ip}`);
  for (const r of records.srv ?? []) {
    args.push(r.target === undefined ? `--srv-host=${r.name}` : `--srv-host=${r.name},${r.target},${r.port ?? 5269},${r.priority ?? 0},${r.weight ?? 0}`);
  }
  const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  const server = `127.0.0.1:${p}`;
  const probe = new Resolver({ timeout: 200, tries: 1 });
  probe.setServers([server]);
  // Ready once it answers (a name under .test it does not know: NXDOMAIN, an answer all the same).
  await waitFor(
    async () => {
      if (exited) throw new Error(`dnsmasq exited: ${stderr}`);
      try {
        await probe.resolve4('ready-probe.test');
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOTFOUND';
      }
    },
    { timeoutMs: 5000, message: `dnsmasq answering on ${server}` },
  );
  return {
    server,
    log: () => stderr,
    async stop() {
      if (exited || child.pid === undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      await gone;
    },
  };
}
