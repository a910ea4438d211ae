/**
 * The read side, answered at the account's bare JID (only by the account itself):
 * archive queries (XEP-0313 §4: result messages to the querying resource, then the iq result
 * with <fin/>), the query form (iq get), the archive metadata (`<metadata/>`, XEP-0313 1.1: first and
 * last item) and the preferences (§7).
 *
 * `ArchiveQueries` is the engine without preferences, for any archive keyed by a store
 * "username": the MUC's room archive reuses it with its own access rule (`archiveOf`), its
 * own `with` rule (`adjust`) and what an asker may see of a stored message (`view`).
 */
import type { StanzaEvent } from '../../core/event-map.js';
import { stanzaError } from '../../core/errors.js';
import { isBound, type BoundC2SSession } from '../../core/session.js';
import { StorageItemNotFoundError } from '../../storage/errors.js';
import type { ArchiveItem, ArchiveStore, KeyValStore } from '../../storage/types.js';
import { Element, RawElement, serializedStanza } from '../../xml/element.js';
import { escapeAttr } from '../../xml/escape.js';
import { NS } from '../../xml/ns.js';
import { message } from '../../xml/stanza.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { runPage } from './page.js';
import { NS_DATA, NS_MAM, NS_RSM, parseMamQuery, queryFields, type MamQuery, type PageLimits } from './query.js';
import { parsePrefs, prefsElement, type Policy, type Prefs } from './prefs.js';

let resultCounter = 0;

export const NS_FORWARD = 'urn:xmpp:forward:0';
export const NS_DELAY = 'urn:xmpp:delay';

export interface ArchiveQueryDeps {
  store: ArchiveStore<string>;
  limits: PageLimits;
  /** Starts timing a query; the returned function stops it. */
  timeQuery: () => () => void;
  warn: (obj: object, msg: string) => void;
  /** The store key of the archive the event asks for; throws a stanza error when the asker may not read it. Default: the account itself only. */
  archiveOf?: (event: StanzaEvent) => string | Promise<string>;
  /** Checks or rewrites a parsed query for this archive (throws a stanza error). */
  adjust?: (event: StanzaEvent, q: MamQuery) => MamQuery;
  /** What the asker sees of a stored message (a room hides real JIDs from some). */
  view?: (original: Element, event: StanzaEvent) => Element;
}

export interface QueryDeps extends ArchiveQueryDeps {
  prefs: KeyValStore<Prefs>;
  defaultPolicy: Policy;
}

function ownAccountOnly(event: StanzaEvent): string {
  if (event.from.bare !== event.to.bare) throw stanzaError('CANTO_ERR_FORBIDDEN', 'only the account itself may use its archive');
  return event.to.local;
}

export class ArchiveQueries {
  constructor(protected readonly deps: ArchiveQueryDeps) {}

  /** The store key, or a stanza error thrown. */
  protected archiveOf(event: StanzaEvent): string | Promise<string> {
    return this.deps.archiveOf ? this.deps.archiveOf(event) : ownAccountOnly(event);
  }

  /** A query is about to run (after its checks). */
  protected onQuery(_event: StanzaEvent): void {}

  query = async (event: StanzaEvent): Promise<Element> => {
    const username = await this.archiveOf(event);
    const el = event.stanza.getChild('query', NS_MAM);
    if (!el) throw stanzaError('CANTO_ERR_BAD_REQUEST');
    const parsed = parseMamQuery(el, this.deps.limits);
    if (!parsed.ok) {
      throw stanzaError(parsed.error.condition === 'bad-request' ? 'CANTO_ERR_BAD_REQUEST' : 'CANTO_ERR_FEATURE_NOT_IMPLEMENTED', parsed.error.text);
    }
    const q = this.deps.adjust ? this.deps.adjust(event, parsed.query) : parsed.query;
    const { origin } = event;
    this.onQuery(event);
    const stop = this.deps.timeQuery();
    try {
      let page;
      try {
        page = await runPage(this.deps.store, username, q);
      } catch (err) {
        if (err instanceof StorageItemNotFoundError) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such archive item');
        throw err;
      }
      for (const item of page.items) {
        const result = this.resultMessage(event, item, q.queryid);
        if (result) origin.send(result);
      }
      const fin = new Element('fin', { xmlns: NS_MAM, complete: page.complete ? 'true' : 'false', queryid: q.queryid });
      const set = fin.c('set', { xmlns: NS_RSM });
      const first = page.items[0];
      const last = page.items[page.items.length - 1];
      if (first && last) {
        set.c('first').t(first.id);
        set.c('last').t(last.id);
      }
      set.c('count').t(String(page.count));
      return fin;
    } finally {
      stop();
    }
  };

  /** <message><result><forwarded><delay/>original</forwarded></result></message>, to the asker. */
  private resultMessage(event: StanzaEvent, item: ArchiveItem<string>, queryid: string | undefined): Element | undefined {
    const original = this.storedMessage(event, item);
    if (!original) return undefined;
    // A result's id only has to be unique on the stream: a counter, not the CSPRNG per message.
    const msg = message({ to: event.from.full, from: event.to.bare, id: `mam-${(++resultCounter).toString(36)}` });
    const stamp = new Date(item.when).toISOString();
    if (original instanceof RawElement) {
      // The stored text is sent as it is: its <result><forwarded><delay/> wrapping is written as
      // text around it too, not built as elements and serialized (a third of a page's
      // allocation, so fewer young-generation collections in a stream of pages). The <result>
      // stays a child element (name and namespace), so filters still see a MAM result.
      const qid = queryid === undefined ? '' : ` queryid="${escapeAttr(queryid)}"`;
      const xml = `<result xmlns="${NS_MAM}"${qid} id="${escapeAttr(item.id)}"><forwarded xmlns="${NS_FORWARD}"><delay xmlns="${NS_DELAY}" stamp="${stamp}"/>${original.xml}</forwarded></result>`;
      msg.cnode(new RawElement('result', NS_MAM, xml));
      return msg;
    }
    const forwarded = msg.c('result', { xmlns: NS_MAM, queryid, id: item.id }).c('forwarded', { xmlns: NS_FORWARD });
    forwarded.c('delay', { xmlns: NS_DELAY, stamp });
    forwarded.cnode(original);
    return msg;
  }

  /**
   * The archived message as the asker sees it. Without a `view`, the text the archiver stored
   * (Canto's own serialization of the message, src/modules/mam/archiver.ts) is sent as it is,
   * not parsed and written again: a page of 50 then costs no trees. Text of any other form
   * (written by something else) is parsed, and a `view` needs the tree.
   */
  private storedMessage(event: StanzaEvent, item: ArchiveItem<string>): Element | undefined {
    if (!this.deps.view) {
      const raw = serializedStanza(item.value, 'message', NS.client);
      if (raw) return raw;
    }
    let original: Element;
    try {
      original = parseXmlFragment(item.value, { defaultNs: NS.client });
    } catch (err) {
      this.deps.warn({ err, id: item.id }, 'skipping an archive item that does not parse');
      return undefined;
    }
    return this.deps.view ? this.deps.view(original, event) : original;
  }

  /** iq get <query/>: the fields the query form takes. */
  form = async (event: StanzaEvent): Promise<Element> => {
    await this.archiveOf(event);
    const query = new Element('query', { xmlns: NS_MAM });
    queryFields(query.c('x', { xmlns: NS_DATA, type: 'form' }));
    return query;
  };

  /** iq get <metadata/>: the first and last item (id and time), nothing for an empty archive. */
  metadata = async (event: StanzaEvent): Promise<Element> => {
    const username = await this.archiveOf(event);
    const el = new Element('metadata', { xmlns: NS_MAM });
    const [first] = await this.deps.store.find(username, { limit: 1 });
    const [last] = await this.deps.store.find(username, { limit: 1, reverse: true });
    if (first && last) {
      el.c('start', { id: first.id, timestamp: new Date(first.when).toISOString() });
      el.c('end', { id: last.id, timestamp: new Date(last.when).toISOString() });
    }
    return el;
  };
}

/** The account archive's queries: the engine plus preferences and the offline interplay. */
export class Queries extends ArchiveQueries {
  /** Sessions that queried the archive before their initial presence (see offline interplay in README). */
  readonly syncedBeforePresence = new WeakSet<BoundC2SSession>();

  constructor(private readonly prefsDeps: QueryDeps) {
    super(prefsDeps);
  }

  protected override onQuery(event: StanzaEvent): void {
    const { origin } = event;
    if (isBound(origin) && origin.presence === undefined) this.syncedBeforePresence.add(origin);
  }

  getPrefs = async (event: StanzaEvent): Promise<Element> => {
    const username = ownAccountOnly(event);
    return prefsElement((await this.prefsDeps.prefs.get(username)) ?? { default: this.prefsDeps.defaultPolicy, always: [], never: [] });
  };

  setPrefs = async (event: StanzaEvent): Promise<Element> => {
    const username = ownAccountOnly(event);
    const el = event.stanza.getChild('prefs', NS_MAM);
    if (!el) throw stanzaError('CANTO_ERR_BAD_REQUEST');
    const prefs = parsePrefs(el);
    await this.prefsDeps.prefs.set(username, prefs);
    return prefsElement(prefs);
  };
}
