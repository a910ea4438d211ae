/**
 * The `[acme]` table (docs/configuration.md): where Canto gets certificates by ACME (RFC 8555)
 * for the names that have none configured. Declared here, listed in src/modules/index.ts; the
 * acme module (index.ts) and start-up (src/net/certificates.ts) read `config.acme`.
 */
import { z } from 'zod';
import { defaultedTable, type ConfigTable } from '../../core/config-tables.js';
import { check, duration, list, domain } from '../../core/option-schemas.js';

function isHttpsUrl(v: unknown): v is string {
  if (typeof v !== 'string' || !/^https:\/\/[^\s]+$/.test(v)) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

function isContact(v: unknown): v is string {
  return typeof v === 'string' && /^(mailto:)?[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v);
}

const schema = defaultedTable({
  /** The CA's ACME directory; unset: ACME is off. */
  directory: check(isHttpsUrl, 'the https URL of an ACME directory, such as "https://acme-v02.api.letsencrypt.org/directory"').optional(),
  contact: list(check(isContact, 'an e-mail address such as "admin@example.org"')),
  /** The operator read and accepts the CA's terms of service (the CA requires it). */
  accept_terms: z.boolean().default(false),
  /** A PEM file of CA certificates to trust for the directory itself (a private ACME CA). */
  ca_certificate: z.string().min(1).optional(),
  /** Where http-01 challenges are answered besides the [http] listeners; 0: only there. */
  challenge_port: z.number().int().min(0).max(65535).default(80),
  renew_before: duration('30d', { min: 1 }),
  check_interval: duration('12h', { min: 1 }),
  /** Names to get certificates for besides the virtual hosts without one (e.g. "upload.example.org"). */
  domains: list(domain),
});

export interface AcmeConfig {
  directory?: string;
  contact: string[];
  accept_terms: boolean;
  ca_certificate?: string;
  challenge_port: number;
  /** ms */
  renew_before: number;
  /** ms */
  check_interval: number;
  domains: string[];
}

declare module '../../core/config.js' {
  interface CantoConfig {
    acme: AcmeConfig;
  }
}

export const acmeTable = {
  schema: schema satisfies z.ZodType<AcmeConfig, unknown>,
  pathKeys: ['ca_certificate'],
  check: (raw) => {
    if (raw.directory !== undefined && raw.accept_terms !== true) {
      return [{ path: ['accept_terms'], message: "set accept_terms = true once you have read the CA's terms of service (the CA refuses an account without it)" }];
    }
    return [];
  },
} as const satisfies ConfigTable;
