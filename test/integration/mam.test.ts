/** XEP-0313 MAM with real @xmpp/client clients over STARTTLS, on the default modules and SQLite. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';

const NS_MAM = 'urn:xmpp:mam:2';
const NS_RSM = 'http://jabber.org/protocol/rsm';
let ts: TestServer;
let romeo: LoggedInClient;
let juliet: LoggedInClient;
before(async () => {
  ts = await startTestServer(); // default modules_enabled (mam among them), SQLite storage
  await createAccount(ts, 'romeo', 'pw');
  await createAccount(ts, 'juliet', 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
  juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
  await romeo.send(xml('presence'));
  await juliet.send(xml('presence'));
});
after(async () => {
  await (romeo as LoggedInClient | undefined)?.stop(); // unset when the login in before() failed
  await (juliet as LoggedInClient | undefined)?.stop();
  await (ts as TestServer | undefined)?.stop();
});

/** Sends a query and returns the forwarded messages (with their result ids) and the <fin/>. */
async function query(client: LoggedInClient, queryid: string, rsm: XElement[] = []): Promise<{ results: Array<{ id: string; msg: XElement | undefined }>; fin: XElement | undefined }> {
  const results: Array<{ id: string; msg: XElement | undefined }> = [];
  const answer = await client.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_MAM, queryid }, ...(rsm.length ? [xml('set', { xmlns: NS_RSM }, ...rsm)] : []))));
  for (const s of client.received) {
    const r = s.is('message') ? s.getChild('result', NS_MAM) : undefined;
    if (r?.attrs.queryid === queryid) results.push({ id: r.attrs.id ?? '', msg: r.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message') });
  }
  return { results, fin: answer.getChild('fin', NS_MAM) };
}

test('messages are archived with stanza-ids and read back page by page with RSM', async () => {
  for (const body of ['one', 'two', 'three']) {
    await romeo.send(xml('message', { to: 'juliet@localhost', type: 'chat', id: body }, xml('body', {}, body)));
  }
  const live: XElement[] = [];
  for (const body of ['one', 'two', 'three']) live.push(await juliet.waitFor((s) => s.is('message') && s.getChildText('body') === body));

  const all = await query(juliet, 'all');
  assert.deepEqual(all.results.map((r) => r.msg?.getChildText('body')), ['one', 'two', 'three']);
  assert.equal(all.fin?.attrs.complete, 'true');
  assert.equal(all.fin?.getChild('set', NS_RSM)?.getChildText('count'), '3');
  const stamped = live.map((m) => m.getChildren('stanza-id', 'urn:xmpp:sid:0').find((s) => s.attrs.by === 'juliet@localhost')?.attrs.id);
  assert.deepEqual(stamped, all.results.map((r) => r.id), 'the live stanza-ids are the archive ids');

  const first = await query(juliet, 'p1', [xml('max', {}, '2')]);
  assert.deepEqual(first.results.map((r) => r.msg?.getChildText('body')), ['one', 'two']);
  assert.equal(first.fin?.attrs.complete, 'false');
  const last = first.fin?.getChild('set', NS_RSM)?.getChildText('last') ?? '';
  const second = await query(juliet, 'p2', [xml('max', {}, '2'), xml('after', {}, last)]);
  assert.deepEqual(second.results.map((r) => r.msg?.getChildText('body')), ['three']);
  assert.equal(second.fin?.attrs.complete, 'true');

  const sent = await query(romeo, 'sent');
  assert.deepEqual(sent.results.map((r) => r.msg?.getChildText('body')), ['one', 'two', 'three'], 'the sender’s archive has them too');

  const err = await juliet.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_MAM }, xml('set', { xmlns: NS_RSM }, xml('after', {}, 'nope'))))).then(() => undefined, (e: { stanza?: XElement }) => e.stanza);
  assert.equal(errorCondition(err), 'item-not-found');
});

test('the account advertises MAM; a second device reads the history on login', async () => {
  const info = await juliet.iq(xml('iq', { type: 'get', to: 'juliet@localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  const features = info.getChild('query')?.getChildren('feature').map((f) => f.attrs.var);
  assert.ok(features?.includes(NS_MAM));
  assert.ok(features?.includes('urn:xmpp:sid:0'));
  const tablet = await loginClient(ts, 'juliet', 'pw', 'tablet');
  try {
    const history = await query(tablet, 'sync');
    assert.ok(history.results.length >= 3);
  } finally {
    await tablet.stop();
  }
});
