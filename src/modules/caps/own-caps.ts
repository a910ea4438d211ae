/**
 * Canto's own XEP-0115 caps: `ver` is the sha-1 verification string of exactly the <query/> the
 * disco module answers the host's disco#info with, so a client that checks it (slixmpp does)
 * finds the same. Recomputed only when what the host advertises changed (modules add and remove
 * features, identities and forms as they load and unload).
 */
import type { HostContext } from '../../core/host.js';
import type { Element } from '../../xml/element.js';
import type { OwnCaps } from './api.js';
import { computeVer, parseDiscoInfo } from './verification.js';

export class OwnCapsSource {
  private signature = '';
  private current: OwnCaps | undefined;

  constructor(
    private readonly ctx: HostContext,
    private readonly node: string,
    private readonly hostInfo: () => Element,
  ) {}

  get(): OwnCaps {
    // Cheap to compare on every login; building, sorting and hashing the answer is not needed then.
    const ids = this.ctx.identities.map((i) => `${i.category}/${i.type}/${i.name ?? ''}`).join('<');
    const sig = `${ids}|${this.ctx.discoExtensions.length}|${this.ctx.features.join('<')}`;
    if (this.current === undefined || sig !== this.signature) {
      this.signature = sig;
      this.current = { hash: 'sha-1', node: this.node, ver: computeVer(parseDiscoInfo(this.hostInfo()), 'sha-1') };
    }
    return this.current;
  }

  /** The children of the host's disco#info, for an answer to `node#ver`. */
  info(): Element {
    return this.hostInfo();
  }
}
