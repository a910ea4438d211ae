/**
 * Answers disco#info and disco#items (XEP-0030) for the host and, on the account's behalf, for
 * its users' bare JIDs. Accounts follow §8: info only for the user and contacts that see the
 * account's presence (service-unavailable otherwise, and for accounts that do not exist, so the
 * answer does not reveal which exist); items are an empty list where info would be refused.
 * Each answer is a `mod.iq` handler: it returns the <query/> or throws a coded error.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { HostContext } from '../../core/host.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { stanzaError, type StanzaError } from '../../core/errors.js';
import { Element } from '../../xml/element.js';
import { parseJid } from '../../jid/index.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, type DiscoItem, type DiscoQuery, type DiscoService } from './api.js';
import { maySeePresence } from './presence-access.js';

export class DiscoResponder {
  constructor(
    private readonly mod: ModuleApi,
    private readonly ctx: HostContext,
    private readonly service: DiscoService,
  ) {}

  hostInfo = (event: StanzaEvent): Element => {
    const node = nodeOf(event.stanza);
    const query = new Element('query', { xmlns: NS_DISCO_INFO, node });
    const q: DiscoQuery = { ...base(event), trusted: true };
    if (node !== undefined) {
      if (!this.mod.fire('disco-info-node', { ...q, node, query })) throw noSuchNode(node);
    } else {
      this.fillHostInfo(query, q);
    }
    return query;
  };

  /** The host's disco#info without a node, as the host itself would be answered (for XEP-0115 caps). */
  hostInfoQuery(): Element {
    const query = new Element('query', { xmlns: NS_DISCO_INFO });
    const host = this.ctx.session;
    const self = parseJid(this.mod.host);
    const stanza = new Element('iq', { type: 'get', from: this.mod.host, to: this.mod.host, id: 'caps' });
    stanza.cnode(new Element('query', { xmlns: NS_DISCO_INFO }));
    this.fillHostInfo(query, { origin: host, stanza, from: self, to: self, trusted: true });
    return query;
  }

  private fillHostInfo(query: Element, q: DiscoQuery): void {
    appendIdentities(query, this.ctx.identities);
    for (const ns of this.ctx.features) query.c('feature', { var: ns });
    this.mod.fire('disco-info', { ...q, query });
    // The forms are shared by every reply: send copies.
    for (const form of this.ctx.discoExtensions) query.cnode(form.clone());
  }

  hostItems = (event: StanzaEvent): Element => {
    const node = nodeOf(event.stanza);
    const items: DiscoItem[] = [];
    const q: DiscoQuery = { ...base(event), trusted: true };
    if (node !== undefined) {
      if (!this.mod.fire('disco-items-node', { ...q, node, items })) throw noSuchNode(node);
    } else {
      for (const domain of [...this.mod.server.components].sort()) items.push({ jid: domain });
      items.push(...this.service.items());
      this.mod.fire('disco-items', { ...q, items });
    }
    return itemsQuery(items, node);
  };

  accountInfo = async (event: StanzaEvent): Promise<Element> => {
    const node = nodeOf(event.stanza);
    const { username, trusted } = await this.requesterStanding(event);
    if (trusted !== true) {
      // §8: the same answer (service-unavailable, no text) whether the account is missing or
      // the requester not allowed.
      this.mod.log.debug({ username, from: event.from.full }, 'disco#info to an account refused');
      throw stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', '');
    }
    const query = new Element('query', { xmlns: NS_DISCO_INFO, node });
    const q: DiscoQuery = { ...base(event), trusted };
    // Account answers may need storage (PEP nodes): handlers may hold these events (dispatch).
    if (node !== undefined) {
      if (!(await this.mod.dispatch('disco-info-node', { ...q, node, query }))) throw noSuchNode(node);
    } else {
      query.c('identity', { category: 'account', type: 'registered' });
      query.c('feature', { var: NS_DISCO_INFO });
      query.c('feature', { var: NS_DISCO_ITEMS });
      await this.mod.dispatch('disco-info', { ...q, query });
    }
    return query;
  };

  accountItems = async (event: StanzaEvent): Promise<Element> => {
    const node = nodeOf(event.stanza);
    const { trusted } = await this.requesterStanding(event);
    const items: DiscoItem[] = [];
    // §8: an account that does not exist has an empty list, whatever the node.
    if (trusted !== undefined) {
      const q: DiscoQuery = { ...base(event), trusted };
      if (node !== undefined) {
        const claimed = await this.mod.dispatch('disco-items-node', { ...q, node, items });
        // Only someone allowed to see the account learns that a node does not exist.
        if (!claimed && trusted) throw noSuchNode(node);
      } else {
        await this.mod.dispatch('disco-items', { ...q, items });
      }
    }
    return itemsQuery(items, node);
  };

  /**
   * Whether the target account exists and the requester may see its presence:
   * `trusted` is undefined when the account does not exist.
   */
  private async requesterStanding(event: StanzaEvent): Promise<{ username: string; trusted: boolean | undefined }> {
    const username = event.to.local;
    // The user themself is signed in, so the account exists: no storage lookup.
    if (event.from.bare === event.to.bare) return { username, trusted: true };
    if (!(await this.mod.accountExists(username))) return { username, trusted: undefined };
    return { username, trusted: await maySeePresence(this.mod, username, event.from) };
  }
}

function base(event: StanzaEvent): Omit<DiscoQuery, 'trusted'> {
  return { origin: event.origin, stanza: event.stanza, from: event.from, to: event.to };
}

/** The 'node' of the query; an empty node is the same as none. */
function nodeOf(stanza: Element): string | undefined {
  const node = stanza.elements[0]?.attrs.node;
  return node === undefined || node === '' ? undefined : node;
}

function noSuchNode(node: string): StanzaError {
  return stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no such node: ${node}`);
}

/** Identities in order, without duplicates (XEP-0115 rejects a list with duplicates). */
function appendIdentities(query: Element, identities: Iterable<{ category: string; type: string; name?: string }>): void {
  const seen = new Set<string>();
  for (const id of identities) {
    const key = `${id.category}/${id.type}/${id.name ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    query.c('identity', { category: id.category, type: id.type, name: id.name });
  }
}

function itemsQuery(items: DiscoItem[], node: string | undefined): Element {
  const query = new Element('query', { xmlns: NS_DISCO_ITEMS, node });
  const seen = new Set<string>();
  for (const item of items) {
    const key = `${item.jid}\u0000${item.node ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    query.c('item', { jid: item.jid, name: item.name, node: item.node });
  }
  return query;
}
