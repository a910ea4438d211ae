/**
 * Prosody's stored stanzas (`util.stanza`'s preserialized tables: `name`, `attr`, children in
 * the array part, text as strings) to Canto elements, and the vCard 4 that Prosody's
 * mod_vcard_legacy keeps in PEP to the vcard-temp that Canto's vcard module serves.
 * Shared by the file and SQL importers.
 */
import { Element } from '../xml/element.js';
import { LuaTable, utf8, type LuaValue } from './lua-data.js';

const MAX_DEPTH = 64;

/** One preserialized stanza as an element; `dropAttrs` are left out on the top element (Prosody's archive bookkeeping). */
export function stanzaFromLua(t: LuaTable, inheritedNs: string, fail: (what: string) => never, dropAttrs: readonly string[] = [], depth = 0): Element {
  if (depth > MAX_DEPTH) fail('stanza nested too deeply');
  const name = t.string('name');
  if (name === undefined || name === '') fail('a stored stanza has no name');
  const attrs: Record<string, string> = {};
  const attrTable = t.table('attr');
  for (const [k, v] of attrTable?.entries ?? []) {
    if (typeof k !== 'string' || typeof v !== 'string') continue;
    if (depth === 0 && dropAttrs.includes(k)) continue;
    attrs[k] = utf8(v);
  }
  const el = new Element(utf8(name), attrs, inheritedNs);
  for (const child of t.array()) {
    if (typeof child === 'string') el.t(utf8(child));
    else if (child instanceof LuaTable) {
      const c = stanzaFromLua(child, el.xmlns, fail, dropAttrs, depth + 1);
      c.parent = el;
      el.children.push(c);
    }
  }
  return el;
}

export function isTable(v: LuaValue | undefined): v is LuaTable {
  return v instanceof LuaTable;
}

const NS_VCARD4 = 'urn:ietf:params:xml:ns:vcard-4.0';

/** The text of a vCard 4 property (`<fn><text>…</text></fn>`, `<tel><uri>…</uri></tel>`). */
function v4text(prop: Element | undefined, ...kinds: string[]): string | undefined {
  if (!prop) return undefined;
  for (const kind of kinds) {
    const t = prop.getChildText(kind, NS_VCARD4);
    if (t !== undefined && t !== '') return t;
  }
  return undefined;
}

/**
 * vcard-temp (XEP-0054) from a vCard 4 (RFC 6351, XEP-0292), for the fields both have: what
 * mod_vcard_legacy shows clients that ask for vcard-temp.
 */
export function vcardTempFromVcard4(v4: Element): Element {
  const out = new Element('vCard', { xmlns: 'vcard-temp' });
  const one = (tag: string, name: string, ...kinds: string[]) => {
    const text = v4text(v4.getChild(tag, NS_VCARD4), ...kinds);
    if (text !== undefined) out.c(name).t(text);
  };
  one('fn', 'FN', 'text');
  const n = v4.getChild('n', NS_VCARD4);
  if (n) {
    const el = out.c('N');
    for (const [v4name, name] of [['surname', 'FAMILY'], ['given', 'GIVEN'], ['additional', 'MIDDLE'], ['prefix', 'PREFIX'], ['suffix', 'SUFFIX']] as const) {
      const t = n.getChildText(v4name, NS_VCARD4);
      if (t !== undefined && t !== '') el.c(name).t(t);
    }
  }
  one('nickname', 'NICKNAME', 'text');
  one('bday', 'BDAY', 'date', 'text');
  one('title', 'TITLE', 'text');
  one('role', 'ROLE', 'text');
  one('note', 'DESC', 'text');
  one('url', 'URL', 'uri');
  const org = v4text(v4.getChild('org', NS_VCARD4), 'text');
  if (org !== undefined) out.c('ORG').c('ORGNAME').t(org);
  for (const email of v4.getChildren('email', NS_VCARD4)) {
    const t = v4text(email, 'text');
    if (t !== undefined) out.c('EMAIL').c('INTERNET').up().c('USERID').t(t);
  }
  for (const tel of v4.getChildren('tel', NS_VCARD4)) {
    const t = v4text(tel, 'uri', 'text');
    if (t !== undefined) out.c('TEL').c('NUMBER').t(t.replace(/^tel:/, ''));
  }
  const impp = v4text(v4.getChild('impp', NS_VCARD4), 'uri');
  if (impp !== undefined) out.c('JABBERID').t(impp.replace(/^xmpp:/, ''));
  return out;
}
