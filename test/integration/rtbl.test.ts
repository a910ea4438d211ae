/**
 * Real-time block lists across federation (issue 20): a second Canto (b.test) serves the list as
 * a node of its pubsub component `pubsub.b.test`; the first (a.test) subscribes to it over s2s
 * (`[modules.rtbl] sources`). A digest published live makes a.test refuse the spammer's
 * messages and subscription requests (policy-violation) and his joins to a room of a.test's
 * chat service (forbidden); the retraction lets them through again. A listed domain refuses
 * all of b.test but the allow-listed account, then its new s2s stream. Restarted while b.test is
 * gone, a.test still blocks from its cache.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { FakeClient, errorCondition, waitFor } from '../../src/testing/index.js';
import type { Server } from '../../src/core/server.js';
import type { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import type { RtblApi } from '../../src/modules/rtbl/index.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { federating, makeTestCa, startPair, type TestCa } from './s2s-harness.js';

const SERVICE = 'pubsub.b.test';
const NODE = 'muc_bans_sha256';
const SOURCE = `${SERVICE} ${NODE}`;
const MUC = 'conference.a.test';
const ROOM = `garden@${MUC}`;
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_MUC = 'http://jabber.org/protocol/muc';
/** Over s2s: a first stanza may wait for a connection and dialback both ways. */
const S2S = { timeoutMs: 10_000 };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let ca: TestCa;
before(async () => {
  ca = await makeTestCa(['a.test', 'b.test']);
});
after(() => {
  rmSync(ca.dir, { recursive: true, force: true });
});

function online(server: Server, jid: string): FakeClient {
  const c = new FakeClient(server, jid);
  server.sessions.setPresence(c.session, presence(), 0);
  return c;
}

function rtbl(server: Server): RtblApi {
  const api = server.hosts.get('a.test')?.services.get('rtbl');
  if (!api) throw new Error('no rtbl service on a.test');
  return api;
}

async function hits(server: Server, kind: string): Promise<number> {
  const text = await server.metrics.render();
  const m = new RegExp(`^canto_rtbl_hits_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const isError = (from: string, id: string) => (s: Element) => s.attrs.type === 'error' && s.attrs.from === from && s.attrs.id === id;
const bodyIs = (body: string) => (s: Element) => s.name === 'message' && s.getChildText('body') === body;

test('a list served over federation blocks and unblocks live, by JID and by domain, with an allow-list, and survives a restart offline', async () => {
  const dataA = tempDir('canto-rtbl-a-');
  let admin: FakeClient | undefined;
  const rtblConfig = {
    sources: [{ jid: SERVICE, node: NODE }],
    allow: ['friend@b.test'],
    retry_interval: '50ms',
  };
  const pair = await startPair(ca, {
    trustCa: false,
    adjustB: (c) => {
      c.component.push({ domain: SERVICE, module: 'pubsub' });
      c.s2s.bidi = false;
    },
    // The list exists before a.test starts and fetches it.
    beforeA: async (b) => {
      admin = online(b.server, 'listkeeper@b.test/desk');
      const made = await admin.ask(iq({ type: 'set', id: 'create', to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('create', { node: NODE }).root());
      assert.equal(made.attrs.type, 'result', String(made));
    },
    adjustA: (c) => {
      c.data_dir = dataA;
      c.component.push({ domain: MUC, module: 'muc' });
      c.s2s.bidi = false;
      c.s2s.hosts[SERVICE] = c.s2s.hosts['b.test'] ?? '';
      c.modules.rtbl = rtblConfig;
    },
  });
  let restarted: { stop(): Promise<void> } | undefined;
  try {
    const a = pair.a.server;
    const b = pair.b.server;
    b.config.s2s.hosts[MUC] = `127.0.0.1:${a.port('s2s')}`;
    const keeper = admin;
    assert.ok(keeper);
    let n = 0;
    const publish = async (id: string) => {
      const r = await keeper.ask(iq({ type: 'set', id: `pub${++n}`, to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('publish', { node: NODE }).c('item', { id }).c('report', { xmlns: 'urn:xmpp:reporting:1', reason: 'urn:xmpp:reporting:spam' }).root());
      assert.equal(r.attrs.type, 'result', String(r));
    };
    const retract = async (id: string) => {
      const r = await keeper.ask(iq({ type: 'set', id: `ret${++n}`, to: SERVICE }).c('pubsub', { xmlns: NS_PUBSUB }).c('retract', { node: NODE, notify: 'true' }).c('item', { id }).root());
      assert.equal(r.attrs.type, 'result', String(r));
    };

    // a.test subscribed and fetched the (empty) list at start.
    await waitFor(() => rtbl(a).sources()[0]?.fetched !== undefined, { ...S2S, message: () => JSON.stringify(rtbl(a).sources()) });
    assert.deepEqual(rtbl(a).sources().map((s) => [s.key, s.entries]), [[SOURCE, 0]]);

    const romeo = online(a, 'romeo@a.test/phone');
    const spammer = online(b, 'spammer@b.test/bot');
    const juliet = online(b, 'juliet@b.test/balcony');
    const friend = online(b, 'friend@b.test/home');

    // romeo's room.
    romeo.send(presence({ to: `${ROOM}/Romeo` }).c('x', { xmlns: NS_MUC }).root());
    await romeo.receives((s) => s.name === 'presence' && s.attrs.from === `${ROOM}/Romeo`);
    const configured = await romeo.ask(iq({ type: 'set', id: 'cfg', to: ROOM }).c('query', { xmlns: `${NS_MUC}#owner` }).c('x', { xmlns: 'jabber:x:data', type: 'submit' }).root());
    assert.equal(configured.attrs.type, 'result');

    // Not listed yet: the spammer's message arrives.
    spammer.send(message({ to: 'romeo@a.test', type: 'chat', id: 's1' }).c('body').t('buy now 1').root());
    await romeo.receives(bodyIs('buy now 1'), S2S);

    // Listed live.
    await publish(sha256('spammer@b.test'));
    await waitFor(() => rtbl(a).listedBy('spammer@b.test') === SOURCE, S2S);
    assert.equal(rtbl(a).listedBy('juliet@b.test'), undefined);

    spammer.send(message({ to: 'romeo@a.test', type: 'chat', id: 's2' }).c('body').t('buy now 2').root());
    const refused = await spammer.receives(isError('romeo@a.test', 's2'), S2S);
    assert.equal(errorCondition(refused), 'modify/policy-violation');
    spammer.send(presence({ to: 'romeo@a.test', type: 'subscribe', id: 'sub1' }));
    const subRefused = await spammer.receives(isError('romeo@a.test', 'sub1'), S2S);
    assert.equal(errorCondition(subRefused), 'modify/policy-violation');
    spammer.send(presence({ to: `${ROOM}/Spam`, id: 'join1' }).c('x', { xmlns: NS_MUC }).root());
    const joinRefused = await spammer.receives(isError(`${ROOM}/Spam`, 'join1'), S2S);
    assert.equal(errorCondition(joinRefused), 'auth/forbidden');
    // Others on b.test are not affected; what romeo got shows the spam never reached him.
    juliet.send(message({ to: 'romeo@a.test', type: 'chat', id: 'j1' }).c('body').t('hello romeo').root());
    await romeo.receives(bodyIs('hello romeo'), S2S);
    assert.ok(!romeo.sent.some(bodyIs('buy now 2')));
    assert.ok(!romeo.sent.some((s) => s.name === 'presence' && s.attrs.type === 'subscribe'));
    assert.equal(await hits(a, 'message'), 1);
    assert.equal(await hits(a, 'subscription'), 1);
    assert.equal(await hits(a, 'muc_join'), 1);

    // Retracted live: everything passes again.
    await retract(sha256('spammer@b.test'));
    await waitFor(() => rtbl(a).listedBy('spammer@b.test') === undefined, S2S);
    spammer.send(message({ to: 'romeo@a.test', type: 'chat', id: 's3' }).c('body').t('sorry 3').root());
    await romeo.receives(bodyIs('sorry 3'), S2S);
    spammer.send(presence({ to: 'romeo@a.test', type: 'subscribe', id: 'sub2' }));
    await romeo.receives((s) => s.name === 'presence' && s.attrs.type === 'subscribe' && s.attrs.from === 'spammer@b.test', S2S);
    spammer.send(presence({ to: `${ROOM}/Spam`, id: 'join2' }).c('x', { xmlns: NS_MUC }).root());
    await spammer.receives((s) => s.name === 'presence' && s.attrs.from === `${ROOM}/Spam` && s.attrs.type === undefined, S2S);

    // A domain entry lists all of b.test, but the allow-listed account.
    await publish(sha256('b.test'));
    await waitFor(() => rtbl(a).listedBy('juliet@b.test') === SOURCE, S2S);
    assert.equal(rtbl(a).listedBy('friend@b.test'), undefined);
    juliet.send(message({ to: 'romeo@a.test', type: 'chat', id: 'j2' }).c('body').t('hello again').root());
    assert.equal(errorCondition(await juliet.receives(isError('romeo@a.test', 'j2'), S2S)), 'modify/policy-violation');
    friend.send(message({ to: 'romeo@a.test', type: 'chat', id: 'f1' }).c('body').t('from a friend').root());
    await romeo.receives(bodyIs('from a friend'), S2S);

    // …and a new stream from b.test is refused once its domain is known.
    for (const s of a.sessions.all) if (s.type === 's2s' && s.direction === 'incoming' && s.fromHost === 'b.test') s.close();
    await waitFor(() => ![...a.sessions.all].some((s) => s.type === 's2s' && s.direction === 'incoming' && s.fromHost === 'b.test'), S2S);
    friend.send(message({ to: 'romeo@a.test', type: 'chat', id: 'f2' }).c('body').t('cut off').root());
    await friend.receives(isError('romeo@a.test', 'f2'), S2S);
    assert.ok(await hits(a, 's2s') >= 1, 'the stream was refused by the list');
    assert.ok(!romeo.sent.some(bodyIs('cut off')));

    // Restart a.test while b.test (and the list's service) is gone: the cache still blocks.
    const bPort = pair.b.server.port('s2s');
    await pair.stop();
    const again = await startTestServer((c) => {
      federating(ca, 'a.test', false)(c);
      c.data_dir = dataA;
      c.s2s.bidi = false;
      c.s2s.hosts['b.test'] = `127.0.0.1:${bPort}`;
      c.s2s.hosts[SERVICE] = `127.0.0.1:${bPort}`;
      c.modules.rtbl = rtblConfig;
    });
    restarted = again;
    assert.equal(rtbl(again.server).listedBy('juliet@b.test'), SOURCE, 'listed from the cache at start');
    await waitFor(() => (rtbl(again.server).sources()[0]?.failures ?? 0) >= 1, S2S);
    assert.deepEqual(rtbl(again.server).sources().map((s) => [s.key, s.entries]), [[SOURCE, 1]], 'a failed fetch keeps the cached entries');
    assert.equal(rtbl(again.server).listedBy('friend@b.test'), undefined);
  } finally {
    await restarted?.stop();
    await pair.stop().catch(() => {});
    rmSync(dataA, { recursive: true, force: true });
  }
});
