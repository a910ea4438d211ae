/**
 * Where to connect for a remote domain (RFC 6120 §3.2, XEP-0368): `[s2s.hosts]` overrides
 * first (no DNS); else the `_xmpps-server._tcp` (direct TLS) and `_xmpp-server._tcp` (STARTTLS)
 * SRV records, each set ordered by priority and weight (RFC 2782); else the domain itself on
 * 5269 (the operating system resolves A/AAAA when connecting).
 */
import { promises as dns, type SrvRecord } from 'node:dns';

export interface ConnectTarget {
  host: string;
  port: number;
  /** XEP-0368: TLS from the first byte instead of STARTTLS. */
  directTls: boolean;
}

export interface SrvResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

export const DEFAULT_S2S_PORT = 5269;

/** "host:port" or "[v6]:port" from `[s2s.hosts]` (the config already checked the shape). */
export function parseHostPort(value: string): ConnectTarget {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`not a host:port address: ${value}`);
  return { host: m[1], port: Number(m[2]), directTls: false };
}

/**
 * RFC 2782 order: ascending priority; within one priority, a weighted random pick repeated until
 * the set is used up (records of weight 0 have a small chance, as the RFC describes).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero-weight records first, as the RFC's selection algorithm orders them.
    const pool = (byPriority.get(priority) ?? []).slice().sort((a, b) => (a.weight === 0 ? -1 : 0) - (b.weight === 0 ? -1 : 0));
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      const pick = random() * (total + 1);
      let running = 0;
      let index = pool.length - 1;
      for (let i = 0; i < pool.length; i++) {
        running += pool[i]?.weight ?? 0;
        if (running >= pick) {
          index = i;
          break;
        }
      }
      const [chosen] = pool.splice(index, 1);
      if (chosen) out.push(chosen);
    }
  }
  return out;
}

/** A single SRV record with target "." says the service is decidedly not available here. */
function servicePresent(records: SrvRecord[]): boolean {
  return !(records.length === 1 && (records[0]?.name === '.' || records[0]?.name === ''));
}

async function srv(resolver: SrvResolver, name: string): Promise<SrvRecord[] | undefined> {
  try {
    return await resolver.resolveSrv(name);
  } catch {
    return undefined; // NXDOMAIN, no records, or DNS failure: treated as "no SRV"
  }
}

/** The connection targets for `domain`, in the order to try them. */
export async function resolveTargets(domain: string, overrides: Readonly<Record<string, string>>, resolver: SrvResolver = dns): Promise<ConnectTarget[]> {
  const override = overrides[domain.toLowerCase()];
  if (override !== undefined) return [parseHostPort(override)];
  const [direct, starttls] = await Promise.all([srv(resolver, `_xmpps-server._tcp.${domain}`), srv(resolver, `_xmpp-server._tcp.${domain}`)]);
  const targets: ConnectTarget[] = [];
  let anySrv = false;
  if (direct && direct.length > 0) {
    anySrv = true;
    if (servicePresent(direct)) for (const r of orderSrv(direct)) targets.push({ host: r.name, port: r.port, directTls: true });
  }
  if (starttls && starttls.length > 0) {
    anySrv = true;
    if (servicePresent(starttls)) for (const r of orderSrv(starttls)) targets.push({ host: r.name, port: r.port, directTls: false });
  }
  if (!anySrv) targets.push({ host: domain, port: DEFAULT_S2S_PORT, directTls: false });
  return targets;
}
