/** The network an address is in, as a key for per-subnet limits: `198.51.100.0/24`, `2001:db8::/56`. */
import { isIPv4, isIPv6 } from 'node:net';

export function subnetOf(ip: string, v4Prefix: number, v6Prefix: number): string | undefined {
  if (isIPv4(ip)) {
    const n = ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
    const size = 2 ** (32 - v4Prefix);
    const net = Math.floor(n / size) * size;
    return `${[24, 16, 8, 0].map((shift) => Math.floor(net / 2 ** shift) % 256).join('.')}/${v4Prefix}`;
  }
  if (isIPv6(ip)) {
    const value = ipv6ToBigInt(ip);
    if (value === undefined) return undefined;
    const mask = ((1n << BigInt(v6Prefix)) - 1n) << BigInt(128 - v6Prefix);
    const net = value & mask;
    const groups: string[] = [];
    for (let i = 7; i >= 0; i--) groups.push(((net >> BigInt(i * 16)) & 0xffffn).toString(16));
    return `${groups.join(':')}/${v6Prefix}`;
  }
  return undefined;
}

function ipv6ToBigInt(ip: string): bigint | undefined {
  let text = ip.split('%')[0] ?? ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const o = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16)}:${(((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  const all = [...left, ...Array<string>(missing).fill('0'), ...right];
  let value = 0n;
  for (const g of all) value = (value << 16n) | BigInt(Number.parseInt(g, 16) || 0);
  return value;
}
