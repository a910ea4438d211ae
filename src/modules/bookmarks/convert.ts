/**
 * XEP-0048 `<storage xmlns='storage:bookmarks'/>` ↔ XEP-0402 `<conference
 * xmlns='urn:xmpp:bookmarks:1'/>` items, as pure functions, and the difference between two
 * bookmark lists (what to publish, what to retract). The module (index.ts) reads and writes.
 */
import { Element } from '../../xml/element.js';

export const NS_BOOKMARKS2 = 'urn:xmpp:bookmarks:1';
export const NS_BOOKMARKS2_COMPAT = 'urn:xmpp:bookmarks:1#compat';
export const NS_BOOKMARKS2_COMPAT_PEP = 'urn:xmpp:bookmarks:1#compat-pep';
/** XEP-0048: the private XML namespace, and the name of the legacy PEP node (item id `current`). */
export const NS_LEGACY = 'storage:bookmarks';
export const LEGACY_ITEM_ID = 'current';

/** One room bookmark, whichever format it came from. */
export interface Bookmark {
  /** The room's JID: the XEP-0402 item id, the XEP-0048 `jid` attribute. */
  jid: string;
  name?: string;
  autojoin: boolean;
  nick?: string;
  password?: string;
  /**
   * Elements of other namespaces the client keeps with the bookmark: XEP-0402 `<extensions/>`
   * children; in XEP-0048 the conference's children that are not `nick`/`password`.
   */
  extensions: Element[];
}

/** XML Schema boolean, as both XEPs use for `autojoin` ('true' or '1'). */
export const isTrue = (v: string | undefined): boolean => v === 'true' || v === '1';

const text = (el: Element, name: string, ns: string): string | undefined => {
  const t = el.getChildText(name, ns);
  return t === undefined || t === '' ? undefined : t;
};

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** A XEP-0402 item (id + `<conference/>`) as a Bookmark; undefined when it is not one. */
export function fromConference2(id: string, conference: Element | undefined): Bookmark | undefined {
  if (id === '' || !conference?.is('conference', NS_BOOKMARKS2)) return undefined;
  const b: Bookmark = { jid: id, autojoin: isTrue(conference.attrs.autojoin), extensions: [] };
  const name = nonEmpty(conference.attrs.name);
  if (name !== undefined) b.name = name;
  const nick = text(conference, 'nick', NS_BOOKMARKS2);
  if (nick !== undefined) b.nick = nick;
  const password = text(conference, 'password', NS_BOOKMARKS2);
  if (password !== undefined) b.password = password;
  const ext = conference.getChild('extensions', NS_BOOKMARKS2);
  if (ext) b.extensions = ext.elements.map((e) => e.clone());
  return b;
}

/** The XEP-0402 payload of a bookmark (its item id is `b.jid`). */
export function toConference2(b: Bookmark): Element {
  const c = new Element('conference', { xmlns: NS_BOOKMARKS2, name: b.name, autojoin: b.autojoin ? 'true' : 'false' });
  if (b.nick !== undefined) c.c('nick').t(b.nick);
  if (b.password !== undefined) c.c('password').t(b.password);
  if (b.extensions.length > 0) {
    const ext = c.c('extensions');
    for (const e of b.extensions) ext.cnode(e.clone());
  }
  return c;
}

/** What a XEP-0048 `<storage/>` holds: its room bookmarks, and everything else (`<url/>` bookmarks, unknown elements), kept as it is. */
export interface LegacyStorage {
  bookmarks: Bookmark[];
  others: Element[];
}

/**
 * Read a XEP-0048 `<storage/>` (several, as private XML may hold: read in order). A conference
 * without a `jid` is kept in `others`; a second conference for the same room is ignored (one
 * XEP-0402 item per room).
 */
export function parseLegacy(storages: Element[]): LegacyStorage {
  const out: LegacyStorage = { bookmarks: [], others: [] };
  const seen = new Set<string>();
  for (const storage of storages) {
    if (!storage.is('storage', NS_LEGACY)) continue;
    for (const el of storage.elements) {
      const jid = nonEmpty(el.attrs.jid);
      if (!el.is('conference', NS_LEGACY) || jid === undefined) {
        out.others.push(el.clone());
        continue;
      }
      if (seen.has(jid)) continue;
      seen.add(jid);
      const b: Bookmark = { jid, autojoin: isTrue(el.attrs.autojoin), extensions: [] };
      const name = nonEmpty(el.attrs.name);
      if (name !== undefined) b.name = name;
      const nick = text(el, 'nick', NS_LEGACY);
      if (nick !== undefined) b.nick = nick;
      const password = text(el, 'password', NS_LEGACY);
      if (password !== undefined) b.password = password;
      // Children in other namespaces are the client's extensions (XEP-0402 maps them to <extensions/>).
      b.extensions = el.elements.filter((c) => c.xmlns !== NS_LEGACY).map((c) => c.clone());
      out.bookmarks.push(b);
    }
  }
  return out;
}

/** The XEP-0048 `<storage/>` for these bookmarks, followed by `others` (kept from the old storage). */
export function toLegacy(bookmarks: Bookmark[], others: Element[] = []): Element {
  const storage = new Element('storage', { xmlns: NS_LEGACY });
  for (const b of bookmarks) {
    const c = storage.c('conference', { jid: b.jid, name: b.name, autojoin: b.autojoin ? 'true' : 'false' });
    if (b.nick !== undefined) c.c('nick').t(b.nick);
    if (b.password !== undefined) c.c('password').t(b.password);
    for (const e of b.extensions) c.cnode(e.clone());
  }
  for (const o of others) storage.cnode(o.clone());
  return storage;
}

/** The XEP-0402 items to publish and the ids to retract to turn `current` into `wanted`. */
export interface BookmarkDiff {
  publish: Bookmark[];
  retract: string[];
}

/**
 * Compare the stored XEP-0402 items (id → payload) with the wanted list. An item is
 * republished only when its canonical payload differs (so re-saving an unchanged XEP-0048 list
 * notifies nobody); items whose payload is not a conference are replaced too.
 */
export function diffBookmarks(current: Map<string, Element | undefined>, wanted: Bookmark[]): BookmarkDiff {
  const publish: Bookmark[] = [];
  const keep = new Set<string>();
  for (const b of wanted) {
    keep.add(b.jid);
    const have = current.get(b.jid);
    const now = current.has(b.jid) ? fromConference2(b.jid, have) : undefined;
    if (now === undefined || toConference2(now).toString() !== toConference2(b).toString()) publish.push(b);
  }
  const retract = [...current.keys()].filter((id) => !keep.has(id));
  return { publish, retract };
}

/** Bookmarks from XEP-0402 items (invalid ones left out), sorted by room JID for a stable XEP-0048 list. */
export function fromItems(items: Array<{ id: string; payload: Element | undefined }>): Bookmark[] {
  const out: Bookmark[] = [];
  for (const item of items) {
    const b = fromConference2(item.id, item.payload);
    if (b) out.push(b);
  }
  return out.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
}
