/** Private XML storage (XEP-0049) with real @xmpp/client clients over STARTTLS. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';

let ts: TestServer;
let hamlet: LoggedInClient;
let macbeth: LoggedInClient;
before(async () => {
  ts = await startTestServer((c) => {
    c.modules_enabled = ['private'];
  });
  await createAccount(ts, 'hamlet', 'pw');
  await createAccount(ts, 'macbeth', 'pw');
  hamlet = await loginClient(ts, 'hamlet', 'pw', 'denmark');
  macbeth = await loginClient(ts, 'macbeth', 'pw', 'scotland');
});
after(async () => {
  await (hamlet as LoggedInClient | undefined)?.stop(); // unset when the login in before() failed
  await (macbeth as LoggedInClient | undefined)?.stop(); // unset when the login in before() failed
  await (ts as TestServer | undefined)?.stop();
});

const failure = (p: Promise<XElement>) => p.then(() => undefined, (e: { stanza?: XElement }) => e.stanza);
const query = (...children: XElement[]) => xml('query', { xmlns: 'jabber:iq:private' }, ...children);

test('bookmarks stored by one session are read back by a new session', async () => {
  const bookmarks = xml('storage', { xmlns: 'storage:bookmarks' }, xml('conference', { jid: 'room@conference.localhost', name: 'Room', autojoin: 'true' }, xml('nick', {}, 'hamlet')));
  await hamlet.iq(xml('iq', { type: 'set' }, query(bookmarks)));
  const again = await loginClient(ts, 'hamlet', 'pw', 'elsinore');
  try {
    const r = await again.iq(xml('iq', { type: 'get' }, query(xml('storage', { xmlns: 'storage:bookmarks' }))));
    const conf = r.getChild('query', 'jabber:iq:private')?.getChild('storage', 'storage:bookmarks')?.getChild('conference');
    assert.equal(conf?.attrs.jid, 'room@conference.localhost');
    assert.equal(conf?.getChildText('nick'), 'hamlet');
  } finally {
    await again.stop();
  }
});

test('errors: not-acceptable for a reserved namespace or an empty query, forbidden for another user', async () => {
  assert.equal(errorCondition(await failure(hamlet.iq(xml('iq', { type: 'set' }, query(xml('x', { xmlns: 'jabber:client' })))))), 'not-acceptable');
  assert.equal(errorCondition(await failure(hamlet.iq(xml('iq', { type: 'get' }, query())))), 'not-acceptable');
  const foreign = await failure(macbeth.iq(xml('iq', { type: 'get', to: 'hamlet@localhost' }, query(xml('storage', { xmlns: 'storage:bookmarks' })))));
  assert.equal(errorCondition(foreign), 'forbidden');
});
