/**
 * The `[component_listener]` table: where external components (XEP-0114) connect
 * (docs/configuration.md). Listed in src/modules/index.ts, which src/app/config.ts hands to the
 * core parser; `config.component_listener` is typed by the declaration below.
 */
import type { z } from 'zod';
import { defaultedTable, listener, type ConfigTable, type ListenerConfig } from '../../core/config-tables.js';

const schema = defaultedTable(listener(['127.0.0.1'], [5347]));

declare module '../../core/config.js' {
  interface CantoConfig {
    component_listener: ListenerConfig;
  }
}

export const componentListenerTable = {
  schema: schema satisfies z.ZodType<ListenerConfig, unknown>,
  portKeys: ['ports'],
} as const satisfies ConfigTable;
