/**
 * Parsing a MAM query (XEP-0313 §4): the data form (FORM_TYPE urn:xmpp:mam:2, with, start, end,
 * and the #extended before-id, after-id, ids), RSM (XEP-0059: max, after, before, empty before)
 * and flip-page. Pure and total: any element gives a query or an error, never a throw (a
 * property test feeds it random input).
 */
import type { Element } from '../../xml/element.js';
import { tryParseJid } from '../../jid/index.js';

export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_MAM_EXTENDED = 'urn:xmpp:mam:2#extended';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
export const NS_DATA = 'jabber:x:data';

export interface MamQuery {
  queryid?: string;
  /** A JID as given, normalised (bare matches its full JIDs too). */
  with?: string;
  /** ms, inclusive */
  start?: number;
  end?: number;
  afterId?: string;
  beforeId?: string;
  ids?: string[];
  /** Page size, already capped. */
  max: number;
  after?: string;
  /** `true` for an empty <before/>: the last page. */
  before?: string | true;
  flip: boolean;
}

export interface QueryError {
  condition: 'bad-request' | 'feature-not-implemented';
  text: string;
}

export type ParseResult = { ok: true; query: MamQuery } | { ok: false; error: QueryError };

export interface PageLimits {
  /** Page size when the client gives no max. */
  defaultMax: number;
  /** Larger max values are capped to this. */
  maxMax: number;
}

const KNOWN_FIELDS = new Set(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids']);
/** XEP-0082 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
/** An RSM max: decimal digits only, bounded so it parses exactly. */
const MAX_DIGITS = /^\d{1,9}$/;

class Invalid extends Error {
  constructor(readonly condition: QueryError['condition'], text: string) {
    super(text);
  }
}

/** Parses <query xmlns='urn:xmpp:mam:2'/>. */
export function parseMamQuery(query: Element, limits: PageLimits): ParseResult {
  try {
    return { ok: true, query: parse(query, limits) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: { condition: err.condition, text: err.message } };
    throw err;
  }
}

function parse(query: Element, limits: PageLimits): MamQuery {
  const q: MamQuery = { max: limits.defaultMax, flip: false };
  if (query.attrs.queryid !== undefined) q.queryid = query.attrs.queryid;
  const forms = query.getChildren('x', NS_DATA);
  if (forms.length > 1) throw new Invalid('bad-request', 'more than one data form');
  if (forms[0]) parseForm(forms[0], q);
  const sets = query.getChildren('set', NS_RSM);
  if (sets.length > 1) throw new Invalid('bad-request', 'more than one RSM set');
  if (sets[0]) parseRsm(sets[0], q, limits);
  q.flip = query.getChild('flip-page', NS_MAM) !== undefined;
  return q;
}

function parseForm(form: Element, q: MamQuery): void {
  const type = form.attrs.type ?? 'submit';
  if (type !== 'submit') throw new Invalid('bad-request', `the form type must be submit, not ${type}`);
  const seen = new Set<string>();
  for (const field of form.getChildren('field', NS_DATA)) {
    const name = field.attrs.var;
    if (name === undefined) throw new Invalid('bad-request', 'a form field has no var');
    if (!KNOWN_FIELDS.has(name)) throw new Invalid('bad-request', `unknown form field ${name}`);
    if (seen.has(name)) throw new Invalid('bad-request', `form field ${name} given twice`);
    seen.add(name);
    const values = field.getChildren('value', NS_DATA).map((v) => v.getText());
    if (name === 'ids') {
      q.ids = values;
      continue;
    }
    if (values.length > 1) throw new Invalid('bad-request', `form field ${name} takes one value`);
    const value = values[0];
    if (value === undefined || value === '') continue; // an empty field does not filter
    switch (name) {
      case 'FORM_TYPE':
        if (value !== NS_MAM) throw new Invalid('bad-request', `FORM_TYPE must be ${NS_MAM}`);
        break;
      case 'with': {
        const jid = tryParseJid(value);
        if (!jid) throw new Invalid('bad-request', 'with is not a valid JID');
        q.with = jid.full;
        break;
      }
      case 'start':
        q.start = parseDate(value, 'start');
        break;
      case 'end':
        q.end = parseDate(value, 'end');
        break;
      case 'after-id':
        q.afterId = value;
        break;
      case 'before-id':
        q.beforeId = value;
        break;
    }
  }
}

function parseRsm(set: Element, q: MamQuery, limits: PageLimits): void {
  for (const child of set.elements) {
    if (child.xmlns !== NS_RSM) continue;
    const text = child.getText();
    switch (child.name) {
      case 'max':
        if (!MAX_DIGITS.test(text)) throw new Invalid('bad-request', 'RSM max must be a non-negative integer');
        q.max = Math.min(Number(text), limits.maxMax);
        break;
      case 'after':
        if (text === '') throw new Invalid('bad-request', 'RSM after must name an item');
        q.after = text;
        break;
      case 'before':
        q.before = text === '' ? true : text;
        break;
      case 'index':
        throw new Invalid('feature-not-implemented', 'RSM index is not supported; page with after/before');
      default:
        throw new Invalid('bad-request', `unexpected RSM element ${child.name}`);
    }
  }
}

export function parseDate(value: string, field: string): number {
  const ms = DATETIME.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new Invalid('bad-request', `${field} is not a XEP-0082 date-time`);
  return ms;
}

/** The form `iq get` on the query returns (XEP-0313 §4.1.1). */
export function queryFields(form: Element): Element {
  form.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(NS_MAM);
  form.c('field', { var: 'with', type: 'jid-single' });
  form.c('field', { var: 'start', type: 'text-single' });
  form.c('field', { var: 'end', type: 'text-single' });
  form.c('field', { var: 'before-id', type: 'text-single' });
  form.c('field', { var: 'after-id', type: 'text-single' });
  form.c('field', { var: 'ids', type: 'list-multi' }).c('validate', { xmlns: 'http://jabber.org/protocol/xdata-validate', datatype: 'xs:string' }).c('open');
  return form;
}
