/**
 * What a listed sender meets. Only senders on other servers are checked (this server's own
 * accounts, hosts and components never are: suspend a local account instead), and never the
 * lists' own services or what the allow-list names.
 *
 * - To this host's users and the host itself (`<kind>/<bare|full|host>`, above blocking and every
 *   delivery hook): a message or a subscription request is refused with `policy-violation`
 *   (action `bounce`, the default, as Prosody's mod_anti_spam does: the sender's server learns
 *   why, so a wrongly listed user can ask their operator) or dropped without a word (action
 *   `drop`); an iq get/set likewise; every other presence, iq result and error is dropped.
 * - To a chat room (`route/component` for a MUC component, server bus): a join (available
 *   presence) is refused with `forbidden`, as a ban is (XEP-0045 §7.2.7), and so are messages
 *   and iq get/set to the room or its occupants; leaving (unavailable presence) and errors pass.
 * - An incoming s2s stream from a listed domain (`pre-s2s-authenticated`, once the stream's
 *   domain is authenticated): refused, and the s2s module closes it with `policy-violation`.
 */
import type { EventMap, StanzaEvent } from '../../core/event-map.js';
import type { CounterMetric } from '../../core/metrics.js';
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaOrigin } from '../../core/session.js';
import type { Jid } from '../../jid/index.js';
import { AllowList, SenderKeys } from './blocklist.js';
import type { RtblSource } from './source.js';

export type HitKind = 'message' | 'subscription' | 'presence' | 'iq' | 'muc_join' | 'muc_stanza' | 's2s';
export type RtblAction = 'bounce' | 'drop';

export const REFUSAL_TEXT = 'Refused: the sender is on a block list this server uses';

export class RtblEnforcer {
  constructor(
    private readonly mod: ModuleApi,
    private readonly sources: readonly RtblSource[],
    private readonly allow: AllowList,
    private readonly action: RtblAction,
    private readonly hits: CounterMetric<'kind'>,
  ) {}

  /** The source that lists this bare JID or its domain, unless allowed (undefined: not listed). */
  listedBy(bare: string, domain: string): RtblSource | undefined {
    if (!this.sources.some((s) => s.list.size > 0)) return undefined;
    if (this.allow.allows(bare, domain) || this.sources.some((s) => s.isService(bare))) return undefined;
    const keys = new SenderKeys(bare, domain);
    return this.sources.find((s) => s.list.matches(keys));
  }

  /** The source that lists this domain (an s2s peer), unless allowed. */
  domainListedBy(domain: string): RtblSource | undefined {
    if (!this.sources.some((s) => s.list.size > 0)) return undefined;
    if (this.allow.allows(domain, domain) || this.sources.some((s) => s.isService(domain))) return undefined;
    return this.sources.find((s) => s.list.matchesDomain(domain));
  }

  /** A sender on another server (not one of this server's hosts or components). */
  private isRemote(from: Jid): boolean {
    return !this.mod.server.serves(from.domain);
  }

  /** Stanzas to this host and its users. True when refused or dropped. */
  readonly onInbound = (event: StanzaEvent): boolean => {
    const { from, stanza, origin } = event;
    if (!this.isRemote(from)) return false;
    const source = this.listedBy(from.bare, from.domain);
    if (!source) return false;
    const type = stanza.attrs.type;
    if (stanza.name === 'message') return this.refuse('message', source, event, type === 'error' ? undefined : 'policy-violation');
    if (stanza.name === 'presence') return this.refuse(type === 'subscribe' ? 'subscription' : 'presence', source, event, type === 'subscribe' ? 'policy-violation' : undefined);
    return this.refuse('iq', source, event, type === 'get' || type === 'set' ? 'policy-violation' : undefined, origin);
  };

  /** Stanzas to a chat room service. True when refused. */
  readonly onComponent = (event: EventMap['route/component']): true | undefined => {
    const { from, to, stanza, toHost } = event;
    const entry = this.mod.server.components.get(toHost);
    if (entry?.kind !== 'internal' || entry.module !== 'muc' || to.local === '') return undefined;
    if (!this.isRemote(from)) return undefined;
    const type = stanza.attrs.type;
    if (type === 'error' || type === 'result' || (stanza.name === 'presence' && type !== undefined)) return undefined;
    const source = this.listedBy(from.bare, from.domain);
    if (!source) return undefined;
    const join = stanza.name === 'presence';
    this.refuse(join ? 'muc_join' : 'muc_stanza', source, event, 'forbidden');
    return true;
  };

  /** An incoming server-to-server stream for this host or a component. True refuses it. */
  readonly onS2sAuthenticated = (event: EventMap['pre-s2s-authenticated']): boolean => {
    const { session, fromHost, toHost } = event;
    if (session.direction !== 'incoming') return false;
    if (toHost !== this.mod.host && !this.mod.server.components.has(toHost)) return false;
    const source = this.domainListedBy(fromHost);
    if (!source) return false;
    this.hits.inc({ kind: 's2s' });
    this.mod.log.info({ from: fromHost, to: toHost, source: source.key }, 'refused an s2s stream from a listed domain');
    return true;
  };

  private refuse(kind: HitKind, source: RtblSource, event: StanzaEvent, condition: 'policy-violation' | 'forbidden' | undefined, origin: StanzaOrigin = event.origin): true {
    this.hits.inc({ kind });
    const { stanza, from, to } = event;
    const answer = condition !== undefined && (this.action === 'bounce' || condition === 'forbidden');
    this.mod.log.debug({ kind, from: from.full, to: to.full, source: source.key, answered: answer }, 'stanza from a listed sender refused');
    if (answer) this.mod.server.router.bounce(origin, stanza, condition, REFUSAL_TEXT);
    return true;
  }
}

