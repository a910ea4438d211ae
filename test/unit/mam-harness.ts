/** Shared helpers of the mam tests: a harness with the modules MAM works with, and a query helper. */
import { startHarness, type FakeClient, type Harness, type FakeClock } from '../../src/testing/index.js';
import type { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import roster from '../../src/modules/roster/index.js';
import messageModule from '../../src/modules/message/index.js';
import offline from '../../src/modules/offline/index.js';
import presenceModule from '../../src/modules/presence/index.js';
import disco from '../../src/modules/disco/index.js';
import mam from '../../src/modules/mam/index.js';

export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
export const NS_SID = 'urn:xmpp:sid:0';

export function startMam(opts: { clock?: FakeClock; mam?: Record<string, unknown> } = {}): Promise<Harness> {
  return startHarness({
    modules: [disco, roster, presenceModule, messageModule, offline, mam],
    clock: opts.clock,
    config: (c) => {
      if (opts.mam) c.modules.mam = opts.mam;
    },
  });
}

/** Marks the client available (as after initial presence) without running the presence module. */
export function online(c: FakeClient): FakeClient {
  c.session.priority = 0;
  c.session.presence = presence({});
  return c;
}

export const chat = (to: string, body: string, type = 'chat'): Element => message({ to, type, id: `m-${body}` }).c('body').t(body).root();

export interface FormFields {
  with?: string;
  start?: string;
  end?: string;
  'after-id'?: string;
  'before-id'?: string;
  ids?: string[];
}
export interface Rsm {
  max?: string | number;
  after?: string;
  before?: string;
}

let counter = 0;
/** The <iq type='set'><query/></iq> of a MAM query. */
export function mamIq(fields: FormFields = {}, rsm: Rsm | undefined = undefined, opts: { flip?: boolean; queryid?: string } = {}): Element {
  const q = iq({ type: 'set', id: `q${++counter}` }).c('query', { xmlns: NS_MAM, queryid: opts.queryid ?? `qid${counter}` });
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (entries.length > 0) {
    const x = q.c('x', { xmlns: 'jabber:x:data', type: 'submit' });
    x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(NS_MAM);
    for (const [k, v] of entries) {
      const f = x.c('field', { var: k });
      for (const value of Array.isArray(v) ? v : [v as string]) f.c('value').t(value);
    }
  }
  if (rsm) {
    const set = q.c('set', { xmlns: NS_RSM });
    if (rsm.max !== undefined) set.c('max').t(String(rsm.max));
    if (rsm.after !== undefined) set.c('after').t(rsm.after);
    if (rsm.before !== undefined) set.c('before').t(rsm.before);
  }
  if (opts.flip) q.c('flip-page');
  return q.root();
}

export interface QueryAnswer {
  iq: Element;
  /** The forwarded original messages, in the order received. */
  messages: Element[];
  /** The archive ids of the results, in order. */
  ids: string[];
  fin: Element | undefined;
  complete: boolean;
  first?: string;
  last?: string;
  count?: number;
}

/** Sends a query and collects the results for its queryid. */
export async function ask(client: FakeClient, query: Element): Promise<QueryAnswer> {
  const queryid = query.getChild('query', NS_MAM)?.attrs.queryid;
  const start = client.sent.length;
  const answer = await client.ask(query, { timeoutMs: 5000 });
  const results = client.sent.slice(start).map((s) => s.getChild('result', NS_MAM)).filter((r): r is Element => r !== undefined && r.attrs.queryid === queryid);
  const fin = answer.getChild('fin', NS_MAM);
  const set = fin?.getChild('set', NS_RSM);
  const count = set?.getChildText('count');
  return {
    iq: answer,
    messages: results.map((r) => r.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message') as Element),
    ids: results.map((r) => r.attrs.id ?? ''),
    fin,
    complete: fin?.attrs.complete === 'true',
    first: set?.getChildText('first'),
    last: set?.getChildText('last'),
    count: count === undefined ? undefined : Number(count),
  };
}
