/**
 * The `[s2s]` table (with `[s2s.hosts]`): the federation listeners, who may use dialback, the
 * CAs trusted for peers, the idle timeout and the address overrides (docs/configuration.md).
 * Listed in src/modules/index.ts, which src/app/config.ts hands to the core parser;
 * `config.s2s` is typed by the declaration below. The protocol's timeouts and queue are
 * `[modules.s2s]` (index.ts).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { RawIssue } from '../../core/config-errors.js';
import { asArray, asRecord, defaultedTable, listener, ports, type ConfigTable, type ListenerConfig } from '../../core/config-tables.js';
import { check, domain, duration, isDomain, list } from '../../core/option-schemas.js';

/** "host:port" or "[IPv6]:port" (port 1–65535) split in two; undefined for anything else. */
function splitHostPort(v: unknown): { host: string; bracketed: boolean } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/@]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return m[1] !== undefined ? { host: m[1], bracketed: true } : { host: m[2] ?? '', bracketed: false };
}

/** An `[s2s.hosts]` address: "host:port", or "[IPv6]:port". */
function isHostPort(v: unknown): v is string {
  const hp = splitHostPort(v);
  return hp !== undefined && (!hp.bracketed || isIP(hp.host) === 6);
}

/** A DNS server for `dns_servers`: an IP address, or "IP:port" / "[IPv6]:port". */
function isDnsServer(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  if (isIP(v) !== 0) return true;
  const hp = splitHostPort(v);
  return hp !== undefined && isIP(hp.host) !== 0;
}

const schema = defaultedTable({
  ...listener(['*'], [5269]),
  direct_tls_ports: ports([]),
  secure_auth: z.boolean().default(false),
  bidi: z.boolean().default(true),
  insecure_domains: list(domain),
  secure_domains: list(domain),
  ca_file: z.string().min(1).optional(),
  idle_timeout: duration('5 minutes', { min: 1 }), // never zero
  dns_servers: list(check(isDnsServer, 'a DNS server\'s IP address, optionally with a port: "127.0.0.1", "192.0.2.53:5353", "[2001:db8::53]:53"')),
  hosts: z.record(z.string(), check(isHostPort, 'a "host:port" address such as "xmpp.example.net:5269" or "[2001:db8::1]:5269"'))
    .default(() => ({}))
    .transform((hosts) => Object.fromEntries(Object.entries(hosts).map(([d, hp]) => [d.toLowerCase(), hp]))),
});

export interface S2SConfig extends ListenerConfig {
  direct_tls_ports: number[];
  secure_auth: boolean;
  /** XEP-0288: offer and request bidirectional streams (one connection both ways). */
  bidi: boolean;
  insecure_domains: string[];
  secure_domains: string[];
  ca_file?: string; // absolute path
  idle_timeout: number; // ms
  /** DNS servers for SRV and address lookups of remote domains; empty: the system's resolver. */
  dns_servers: string[];
  hosts: Record<string, string>; // domain → "host:port"
}

declare module '../../core/config.js' {
  interface CantoConfig {
    s2s: S2SConfig;
  }
}

/** A domain may not be both secure and insecure; `[s2s.hosts]` keys are domains. */
function crossFieldIssues(s2s: Record<string, unknown>): RawIssue[] {
  const out: RawIssue[] = [];
  const secure = new Set(asArray(s2s['secure_domains']).filter(isDomain).map((d) => d.toLowerCase()));
  asArray(s2s['insecure_domains']).forEach((d, i) => {
    if (isDomain(d) && secure.has(d.toLowerCase())) {
      out.push({ path: ['insecure_domains', i], message: `"${d}" is listed in both s2s.secure_domains and s2s.insecure_domains` });
    }
  });
  const hosts = asRecord(s2s['hosts']);
  for (const d of Object.keys(hosts ?? {})) {
    if (!isDomain(d)) out.push({ path: ['hosts', d], message: `expected a domain name as the key, got ${JSON.stringify(d)}` });
  }
  return out;
}

export const s2sTable = {
  schema: schema satisfies z.ZodType<S2SConfig, unknown>,
  portKeys: ['ports', 'direct_tls_ports'],
  pathKeys: ['ca_file'],
  check: crossFieldIssues,
} as const satisfies ConfigTable;
