/**
 * Trusted reverse proxies (`http.trusted_proxies`). Only a request whose TCP peer is a trusted
 * proxy may say who the client is (X-Forwarded-For) and whether the client used HTTPS
 * (X-Forwarded-Proto); anyone else's headers are ignored, or any client could claim any address
 * and dodge the per-IP limits.
 */
import { BlockList, isIP } from 'node:net';

export interface ClientOrigin {
  /** The client's address: the peer's own, or the one a trusted proxy forwarded. */
  ip: string;
  /** Whether the client's connection is encrypted (ours, or the proxy's front side). */
  secure: boolean;
  /** The peer is a trusted proxy (its headers were believed). */
  viaProxy: boolean;
}

/** Strip the IPv4-mapped IPv6 prefix, so `::ffff:10.0.0.1` matches IPv4 rules and logs alike. */
export function normalizeAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * One X-Forwarded-For entry as a bare address, or undefined if it is not one. Proxies may add
 * a port ("203.0.113.7:5123", "[2001:db8::1]:443"); the address is what counts.
 */
export function parseForwardedAddress(entry: string): string | undefined {
  let s = entry.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) s = s.slice(1, -1);
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1] ?? '';
  else if (isIP(s) === 0) {
    const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s);
    if (withPort) s = withPort[1] ?? '';
  }
  return isIP(s) === 0 ? undefined : normalizeAddress(s);
}

/** All X-Forwarded-For entries in order (left-most = farthest from us); repeated headers joined. */
export function splitForwardedFor(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = Array.isArray(header) ? header.join(',') : header;
  return joined
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

/** A list of IP addresses and CIDR ranges, IPv4 or IPv6; IPv4-mapped IPv6 addresses match as IPv4. */
export class AddressList {
  private readonly list = new BlockList();
  readonly size: number;

  /** `entries`: addresses and CIDR ranges (validated by the config schema). */
  constructor(entries: readonly string[]) {
    this.size = entries.length;
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.list.addAddress(normalizeAddress(address), family);
      else this.list.addSubnet(address, Number(prefix), family);
    }
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const a = normalizeAddress(address);
    const family = isIP(a);
    if (family === 0) return false;
    return this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }
}

export class TrustedProxies {
  private readonly list: AddressList;
  readonly size: number;

  /** `entries`: addresses and CIDR ranges, IPv4 or IPv6 (validated by the config schema). */
  constructor(entries: readonly string[]) {
    this.list = new AddressList(entries);
    this.size = entries.length;
  }

  isTrusted(address: string): boolean {
    return this.list.has(address);
  }

  /**
   * Who the client is. From a trusted peer: the right-most X-Forwarded-For address that is not
   * itself a trusted proxy (each trusted hop vouches for the one before it; the first untrusted
   * one could have written anything to its left), and HTTPS if the nearest proxy's
   * X-Forwarded-Proto says so. An unparsable entry ends the walk at the last good hop.
   */
  resolve(peer: { address: string; encrypted: boolean }, headers: Record<string, string | string[] | undefined>): ClientOrigin {
    const peerAddress = normalizeAddress(peer.address);
    if (!this.isTrusted(peerAddress)) return { ip: peerAddress, secure: peer.encrypted, viaProxy: false };
    const hops = splitForwardedFor(headers['x-forwarded-for']);
    let ip = peerAddress;
    for (let i = hops.length - 1; i >= 0 && this.isTrusted(ip); i--) {
      const hop = parseForwardedAddress(hops[i] ?? '');
      if (hop === undefined) break;
      ip = hop;
    }
    return { ip, secure: peer.encrypted || forwardedProto(headers['x-forwarded-proto']) === 'https', viaProxy: true };
  }
}

/** The scheme the nearest proxy reports (the right-most value when several were appended). */
export function forwardedProto(header: string | string[] | undefined): string | undefined {
  const values = splitForwardedFor(header);
  return values[values.length - 1]?.toLowerCase();
}
