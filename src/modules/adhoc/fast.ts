/**
 * The `fast` service (XEP-0484 tokens, src/modules/fast/api.ts) as the user commands use it:
 * optional, since an operator may run without the fast module.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { FastService } from '../fast/api.js';

export type { FastService, FastTokenInfo } from '../fast/api.js';

/** The fast service on this host, if the fast module is loaded. */
export function fastService(mod: ModuleApi): FastService | undefined {
  return mod.optional('fast');
}
