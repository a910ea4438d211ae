/**
 * The `[c2s]` table: the client listeners and the rules every client transport shares
 * (docs/configuration.md). Listed in src/modules/index.ts, which src/app/config.ts hands to the
 * core parser; `config.c2s` is typed by the declaration below.
 */
import { z } from 'zod';
import { defaultedTable, listener, ports, type ConfigTable, type ListenerConfig } from '../../core/config-tables.js';
import { duration, intAtLeast } from '../../core/option-schemas.js';

const schema = defaultedTable({
  ...listener(['*'], [5222]),
  direct_tls_ports: ports([5223]),
  require_encryption: z.boolean().default(true),
  auth_timeout: duration('60s', { min: 1 }), // never zero
  max_unauthed_per_ip: intAtLeast(1).default(100),
});

export interface C2SConfig extends ListenerConfig {
  direct_tls_ports: number[];
  require_encryption: boolean;
  auth_timeout: number; // ms
  max_unauthed_per_ip: number;
}

declare module '../../core/config.js' {
  interface CantoConfig {
    c2s: C2SConfig;
  }
}

export const c2sTable = {
  schema: schema satisfies z.ZodType<C2SConfig, unknown>,
  portKeys: ['ports', 'direct_tls_ports'],
} as const satisfies ConfigTable;
