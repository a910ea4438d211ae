/**
 * Issue 14, XEP-0115 with real clients (@xmpp/client) on the booted server: Canto's own caps in
 * the stream features match its disco#info (and disco#info on node#ver gives the same answer); a
 * client's caps are verified with one disco#info and its features are then known through the
 * `caps` service; a client lying about its hash is not trusted; two users announcing the same ver
 * cost one query.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { computeVer, parseDiscoInfo } from '../../src/modules/caps/verification.js';
import type { CapsService } from '../../src/modules/caps/index.js';

const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NODE = 'https://example.org/test-client';

let ts: TestServer;
let caps: CapsService;
const clients: LoggedInClient[] = [];

before(async () => {
  ts = await startTestServer();
  for (const u of ['romeo', 'juliet', 'benvolio', 'liar', 'nurse']) await createAccount(ts, u, `${u}-pw`);
  const service = ts.server.hosts.get('localhost')?.services.get('caps');
  assert.ok(service, 'caps is on by default');
  caps = service;
});
after(async () => {
  for (const c of clients) await c.stop();
  await ts.stop();
});

async function login(user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient(ts, user, `${user}-pw`, resource);
  clients.push(c);
  return c;
}

/** A client's disco#info payload: its identity and features (`features` distinguish test clients). */
function discoInfo(name: string, features: string[], node?: string): XElement {
  return xml(
    'query',
    { xmlns: NS_DISCO_INFO, node },
    xml('identity', { category: 'client', type: 'pc', name }),
    ...[NS_CAPS, NS_DISCO_INFO, ...features].map((f) => xml('feature', { var: f })),
  );
}

/** The ver of a disco#info payload, computed the way the server does (checked against slixmpp in the interop test). */
function verOf(query: XElement): string {
  return computeVer(parseDiscoInfo(parseXmlFragment(query.toString())), 'sha-1');
}

function capsPresence(ver: string, hash = 'sha-1'): XElement {
  return xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash, node: NODE, ver }));
}

/** Wait for the server's disco#info query on `node#ver` and answer it with `query`. */
async function answerDiscoQuery(client: LoggedInClient, ver: string, query: XElement): Promise<XElement> {
  const get = await client.waitFor((s) => s.is('iq') && s.attrs.type === 'get' && s.getChild('query', NS_DISCO_INFO) !== undefined);
  assert.equal(get.getChild('query', NS_DISCO_INFO)?.attrs.node, `${NODE}#${ver}`);
  query.attrs.node = `${NODE}#${ver}`;
  await client.send(xml('iq', { type: 'result', id: get.attrs.id, to: get.attrs.from }, query));
  return get;
}

async function queriesSent(): Promise<number> {
  const text = await ts.server.metrics.render();
  const m = /^canto_caps_queries_total\{host="localhost"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

test("the stream features carry Canto's caps; the ver is the hash of the server's disco#info, which node#ver answers too", async () => {
  const c = await login('nurse', 'features');
  const features = c.nonzas.filter((el) => el.is('features', 'http://etherx.jabber.org/streams'));
  // Every features element carries them (a SASL2 login, as xmpp.js 0.14 does, sees only the first).
  assert.ok(features.length >= 1);
  for (const f of features) assert.ok(f.getChild('c', NS_CAPS), `caps in ${f.toString().slice(0, 200)}`);
  assert.equal(new Set(features.map((f) => f.getChild('c', NS_CAPS)?.attrs.ver)).size, 1, 'one ver on every features element');
  const el = features[0]?.getChild('c', NS_CAPS);
  assert.equal(el?.attrs.hash, 'sha-1');
  assert.equal(el?.attrs.node, 'https://canto.im');
  const ver = el?.attrs.ver ?? '';
  assert.deepEqual(caps.ownCaps(), { hash: 'sha-1', node: 'https://canto.im', ver });

  const plain = await c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: NS_DISCO_INFO })));
  const info = plain.getChild('query', NS_DISCO_INFO);
  assert.ok(info);
  assert.ok(info.getChildren('feature').some((f) => f.attrs.var === NS_CAPS), 'the server advertises caps support');
  assert.equal(verOf(info), ver);

  const byNode = await c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: NS_DISCO_INFO, node: `https://canto.im#${ver}` })));
  const nodeInfo = byNode.getChild('query', NS_DISCO_INFO);
  assert.equal(nodeInfo?.attrs.node, `https://canto.im#${ver}`);
  assert.deepEqual(nodeInfo?.children.map(String), info.children.map(String));

  await assert.rejects(
    c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: NS_DISCO_INFO, node: 'https://canto.im#not-the-ver' }))),
    /item-not-found/,
  );
});

test('a client announcing caps is asked once, verified, and its features are known through the caps service', async () => {
  const romeo = await login('romeo', 'orchard');
  const query = discoInfo('Romeo Client', ['urn:xmpp:avatar:metadata+notify', 'urn:xmpp:ping']);
  const ver = verOf(query);
  const before = await queriesSent();
  await romeo.send(capsPresence(ver));
  const get = await answerDiscoQuery(romeo, ver, query);
  assert.equal(get.attrs.from, 'romeo@localhost', "asked from the account's own bare JID");
  const features = await waitFor(() => caps.featuresOf(romeo.jid), { message: 'romeo features known' });
  assert.ok(features.has('urn:xmpp:avatar:metadata+notify'));
  assert.ok(caps.hasFeature(romeo.jid, 'urn:xmpp:ping'));
  assert.equal(caps.hasFeature(romeo.jid, 'urn:xmpp:omemo:2:devices+notify'), false);
  assert.deepEqual(caps.identitiesOf(romeo.jid)?.map((i) => i.name), ['Romeo Client']);
  assert.deepEqual(caps.announced(romeo.jid), { hash: 'sha-1', node: NODE, ver, state: 'verified' });
  assert.deepEqual(caps.resourcesOf('romeo@localhost'), [romeo.jid]);
  assert.equal(await queriesSent(), before + 1);

  // Unavailable: forgotten.
  await romeo.send(xml('presence', { type: 'unavailable' }));
  await waitFor(() => caps.announced(romeo.jid) === undefined, { message: 'romeo forgotten' });
  assert.equal(caps.featuresOf(romeo.jid), undefined);
  assert.deepEqual(caps.resourcesOf('romeo@localhost'), []);
});

test('a client lying about its hash is not trusted: nothing cached, its features stay unknown', async () => {
  const liar = await login('liar', 'forge');
  const claimed = discoInfo('Honest Client', ['urn:xmpp:ping']);
  const ver = verOf(claimed);
  await liar.send(capsPresence(ver));
  await answerDiscoQuery(liar, ver, discoInfo('Honest Client', ['urn:xmpp:ping', 'eu.siacs.conversations.axolotl.devicelist+notify']));
  await waitFor(() => caps.announced(liar.jid)?.state === 'rejected', { message: 'the liar is rejected' });
  assert.equal(caps.featuresOf(liar.jid), undefined);
  assert.equal(caps.hasFeature(liar.jid, 'eu.siacs.conversations.axolotl.devicelist+notify'), false);
  const metrics = await ts.server.metrics.render();
  assert.match(metrics, /^canto_caps_query_outcomes_total\{[^}]*result="mismatch"[^}]*\} 1$/m);
  // Not cached: an honest client announcing the ver is asked, and verified.
  const nurse = await login('nurse', 'honest');
  await nurse.send(capsPresence(ver));
  await answerDiscoQuery(nurse, ver, claimed);
  const features = await waitFor(() => caps.featuresOf(nurse.jid), { message: 'the honest client is verified' });
  assert.equal(features.has('eu.siacs.conversations.axolotl.devicelist+notify'), false);
  // The liar repeating its presence is neither asked again nor trusted.
  await liar.send(capsPresence(ver));
  await liar.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' }))); // the presence is processed
  assert.equal(caps.featuresOf(liar.jid), undefined);
  assert.equal(liar.received.filter((s) => s.is('iq') && s.attrs.type === 'get').length, 0);
});

test('two users announcing the same ver: one disco#info query, both known', async () => {
  const juliet = await login('juliet', 'balcony');
  const benvolio = await login('benvolio', 'street');
  const query = discoInfo('Shared Client 1.0', ['urn:xmpp:bookmarks:1+notify']);
  const ver = verOf(query);
  const before = await queriesSent();
  await juliet.send(capsPresence(ver));
  await answerDiscoQuery(juliet, ver, query);
  await waitFor(() => caps.featuresOf(juliet.jid), { message: 'juliet verified' });
  await benvolio.send(capsPresence(ver));
  const features = await waitFor(() => caps.featuresOf(benvolio.jid), { message: 'benvolio known from the cache' });
  assert.ok(features.has('urn:xmpp:bookmarks:1+notify'));
  assert.equal(features, caps.featuresOf(juliet.jid), 'one shared feature set, not a copy per session');
  assert.equal(await queriesSent(), before + 1);
  assert.equal(benvolio.received.filter((s) => s.is('iq') && s.getChild('query', NS_DISCO_INFO)).length, 0);
});

test("presence reaching another user: asked from that user's bare JID, and caps/features-known tells who sees whom", async () => {
  const known: Array<{ jid: string; username: string }> = [];
  const host = ts.server.hosts.get('localhost');
  assert.ok(host);
  const off = host.events.on('caps/features-known', ({ jid, username }) => {
    known.push({ jid, username });
    return undefined;
  });
  try {
    const tybalt = await login('nurse', 'tybalt-like');
    const juliet = await login('juliet', 'garden');
    const query = discoInfo('Directed Client', ['urn:xmpp:omemo:2:devices+notify']);
    const ver = verOf(query);
    // Directed presence to juliet's resource only (no broadcast): juliet's account is the watcher.
    await tybalt.send(xml('presence', { to: juliet.jid }, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: NODE, ver })));
    const get = await answerDiscoQuery(tybalt, ver, query);
    assert.equal(get.attrs.from, 'juliet@localhost', 'the query comes from the account that received the presence');
    await waitFor(() => known.find((k) => k.jid === tybalt.jid), { message: 'features-known fired' });
    assert.deepEqual(known.filter((k) => k.jid === tybalt.jid), [{ jid: tybalt.jid, username: 'juliet' }]);
    assert.ok(caps.hasFeature(tybalt.jid, 'urn:xmpp:omemo:2:devices+notify'));
    assert.deepEqual(caps.resourcesOf('nurse@localhost', 'juliet'), [tybalt.jid]);
    // Directed unavailable: juliet no longer sees it, and nobody else did: forgotten.
    await tybalt.send(xml('presence', { to: juliet.jid, type: 'unavailable' }));
    await waitFor(() => caps.announced(tybalt.jid) === undefined, { message: 'forgotten after the directed unavailable' });
  } finally {
    off();
  }
});
