/**
 * The `[http]` table: the HTTP(S) listeners, CORS, trusted proxies and the public URL
 * (docs/configuration.md). Listed in src/modules/index.ts, which src/app/config.ts hands to the
 * core parser; `config.http` is typed by the declaration below. The server's own limits are
 * `[modules.http]` (index.ts).
 */
import { isIP } from 'node:net';
import type { z } from 'zod';
import { defaultedTable, listener, ports, type ConfigTable, type ListenerConfig } from '../../core/config-tables.js';
import { check, list } from '../../core/option-schemas.js';

/** An IP address or a CIDR range ("10.0.0.0/8", "::1"). */
export function isIpOrCidr(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const [address = '', prefix, ...rest] = v.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function isOrigin(v: unknown): v is string {
  return typeof v === 'string' && (v === '*' || /^https?:\/\/[^/\s?#]+$/.test(v));
}

function isHttpUrl(v: unknown): v is string {
  if (typeof v !== 'string' || !/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(v)) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

const schema = defaultedTable({
  ...listener(['*'], [5280]),
  tls_ports: ports([5281]),
  cors_origins: list(check(isOrigin, 'an origin such as "https://chat.example.com" (no path), or "*"')),
  trusted_proxies: list(check(isIpOrCidr, 'an IP address or CIDR range such as "10.0.0.0/8"')),
  public_url: check(isHttpUrl, 'an http(s) URL such as "https://chat.example.com" (no query)').optional(),
});

export interface HttpConfig extends ListenerConfig {
  tls_ports: number[];
  cors_origins: string[];
  trusted_proxies: string[];
  /** The URL clients reach the HTTP server at (e.g. behind a proxy); endpoints advertised from it. */
  public_url?: string;
}

declare module '../../core/config.js' {
  interface CantoConfig {
    http: HttpConfig;
  }
}

export const httpTable = {
  schema: schema satisfies z.ZodType<HttpConfig, unknown>,
  portKeys: ['ports', 'tls_ports'],
} as const satisfies ConfigTable;
