/**
 * DNS for outgoing server-to-server connections. By default the system resolver (SRV through
 * node:dns, A/AAAA by the operating system when connecting). With `[s2s] dns_servers`, every
 * lookup — the SRV records and the A/AAAA records of their targets — asks those servers instead,
 * for operators whose federation must not use the system's resolver (and for tests, which run a
 * DNS server on loopback).
 */
import { Resolver } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import type { SrvResolver } from './resolve.js';

export interface S2SDns {
  /** SRV lookups. */
  srv: SrvResolver;
  /** The `lookup` for net/tls connect (undefined: the operating system's). */
  lookup: LookupFunction | undefined;
}

type LookupAddress = { address: string; family: number };

/** The resolver for `servers` ("IP" or "IP:port", "[IPv6]:port"); the system's when empty. */
export function s2sDns(servers: readonly string[], system: SrvResolver): S2SDns {
  if (servers.length === 0) return { srv: system, lookup: undefined };
  // Bounded: a silent server fails a lookup in about 5 s (2 tries of 2.5 s), not c-ares' default
  // of 4 tries with growing timeouts, so the connection attempt's own timeout still decides.
  const resolver = new Resolver({ timeout: 2500, tries: 2 });
  resolver.setServers([...servers]);
  const addresses = async (hostname: string): Promise<LookupAddress[]> => {
    const family = isIP(hostname);
    if (family !== 0) return [{ address: hostname, family }];
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const out: LookupAddress[] = [];
    if (v4.status === 'fulfilled') for (const address of v4.value) out.push({ address, family: 4 });
    if (v6.status === 'fulfilled') for (const address of v6.value) out.push({ address, family: 6 });
    return out;
  };
  // net's lookup contract: with `all`, every address; without, the first. Errors carry ENOTFOUND.
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void) => {
    addresses(hostname).then(
      (found) => {
        const first = found[0];
        if (!first) {
          const err: NodeJS.ErrnoException = new Error(`${hostname}: no A or AAAA record at ${servers.join(', ')}`);
          err.code = 'ENOTFOUND';
          callback(err);
        } else if (options.all) callback(null, found);
        else callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException),
    );
  }) as unknown as LookupFunction; // node's LookupFunction overloads cannot be written as one function type
  return { srv: resolver, lookup };
}
