/**
 * The `fast` service (XEP-0484 tokens), as this module uses it. The fast module is being
 * written in another branch (wt-sasl2: src/modules/fast/api.ts); this is its agreed contract,
 * typed locally. The service is looked up by name without the ServiceMap entry, because the
 * fast module declares that entry and a second declaration here would clash when the branches
 * meet. Once it is merged, replace this file with an import of its api.ts.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { ServiceName } from '../../core/services.js';

export interface FastTokenInfo {
  /** The token's id (what `revoke` takes). */
  id: string;
  /** The device's user agent (XEP-0388 <user-agent>: software and device names), if given. */
  software?: string;
  device?: string;
  userAgentId?: string;
  /** ms since the epoch */
  created?: number;
  lastUsed?: number;
  expires?: number;
}

export interface FastService {
  listTokens(username: string): Promise<FastTokenInfo[]> | FastTokenInfo[];
  revoke(username: string, id?: string): Promise<unknown> | unknown;
  revokeAll(username: string): Promise<unknown> | unknown;
}

/** The fast service on this host, if the fast module is loaded. */
export function fastService(mod: ModuleApi): FastService | undefined {
  // Cast: 'fast' is not (yet) in ServiceMap here; see the comment at the top.
  const optional = mod.optional as (name: ServiceName | 'fast') => unknown;
  return optional('fast') as FastService | undefined;
}
