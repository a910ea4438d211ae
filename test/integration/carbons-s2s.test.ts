/**
 * Carbons across federation: romeo@a.test with three resources, juliet@b.test with two, on two
 * Canto servers (s2s-harness.ts). Every eligible message is seen once by each resource of the
 * account on both sides (as the original or a carbon); <private/> ones only by the addressee.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FakeClient, settle, waitFor } from '../../src/testing/index.js';
import type { Server } from '../../src/core/server.js';
import { NS_CARBONS, NS_FORWARD } from '../../src/modules/carbons/index.js';
import type { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import { makeTestCa, startPair, type TestCa } from './s2s-harness.js';

let ca: TestCa;
before(async () => {
  ca = await makeTestCa(['a.test', 'b.test']);
});
after(() => {
  rmSync(ca.dir, { recursive: true, force: true });
});

async function resource(server: Server, jid: string): Promise<FakeClient> {
  const c = new FakeClient(server, jid);
  server.sessions.setPresence(c.session, presence(), 0);
  const r = await c.ask(iq({ type: 'set', id: 'enable' }).c('enable', { xmlns: NS_CARBONS }).root());
  assert.equal(r.attrs.type, 'result');
  return c;
}

/** The message a stanza carries: itself, or the one a carbon from the own account wraps. */
function carried(el: Element, ownBare: string): { body: string | undefined; carbon: boolean } | undefined {
  if (el.name !== 'message') return undefined;
  const wrapper = el.getChild('sent', NS_CARBONS) ?? el.getChild('received', NS_CARBONS);
  if (!wrapper) return { body: el.getChildText('body'), carbon: false };
  assert.equal(el.attrs.from, ownBare, 'a carbon comes from the own bare JID');
  return { body: wrapper.getChild('forwarded', NS_FORWARD)?.getChild('message')?.getChildText('body'), carbon: true };
}

/** Which resource sent each message: it has the message without a copy (counted as seen once). */
const senders = new Map<string, string>();
const seen = (c: FakeClient, own: string, body: string) => c.sent.filter((e) => carried(e, own)?.body === body).length + (senders.get(body) === c.jid ? 1 : 0);

test('carbons between a.test and b.test: each eligible message once on every resource, private ones only at the addressee', async () => {
  const pair = await startPair(ca, { trustCa: false });
  try {
    const a = pair.a.server;
    const b = pair.b.server;
    const romeo = await Promise.all(['r1', 'r2', 'r3'].map((r) => resource(a, `romeo@a.test/${r}`)));
    const juliet = await Promise.all(['j1', 'j2'].map((r) => resource(b, `juliet@b.test/${r}`)));
    const [r1, r2] = romeo;
    const [j1] = juliet;
    assert.ok(r1 && r2 && j1);
    const chat = (to: string, body: string, priv = false) => {
      const m = message({ to, type: 'chat', id: body }).c('body').t(body).root();
      if (priv) m.c('private', { xmlns: NS_CARBONS });
      return m;
    };

    const say = (from: FakeClient, m: Element) => {
      senders.set(m.getChildText('body') ?? '', from.jid);
      from.send(m);
    };
    say(j1, chat('romeo@a.test/r1', 'in-full'));
    say(r2, chat('juliet@b.test/j1', 'out-full'));
    say(j1, chat('romeo@a.test', 'in-bare'));
    say(r1, chat('juliet@b.test', 'out-bare'));
    say(r1, message({ to: 'juliet@b.test/j1', id: 'normal' }).c('body').t('normal').root());
    say(r1, chat('juliet@b.test/j1', 'private-out', true));
    say(j1, chat('romeo@a.test/r3', 'private-in', true));
    // The last one of each direction (sent after the private ones on the same stream) marks the end.
    say(r1, chat('juliet@b.test/j2', 'last-out'));
    say(j1, chat('romeo@a.test/r2', 'last-in'));

    const eligible = ['in-full', 'out-full', 'in-bare', 'out-bare', 'normal', 'last-out', 'last-in'];
    await waitFor(() => romeo.every((c) => seen(c, 'romeo@a.test', 'last-in') === 1 && seen(c, 'romeo@a.test', 'last-out') === 1) && juliet.every((c) => seen(c, 'juliet@b.test', 'last-out') === 1 && seen(c, 'juliet@b.test', 'last-in') === 1), { timeoutMs: 10_000, message: 'the last messages everywhere' });
    await settle(10);

    for (const [own, clients] of [['romeo@a.test', romeo], ['juliet@b.test', juliet]] as const) {
      for (const c of clients) {
        for (const body of eligible) assert.equal(seen(c, own, body), 1, `${c.jid} saw "${body}" once`);
      }
    }
    // Private: the addressee only, with <private/> removed by its server.
    const privOut = juliet.map((c) => seen(c, 'juliet@b.test', 'private-out'));
    assert.deepEqual(privOut, [1, 0]);
    assert.deepEqual(romeo.map((c) => seen(c, 'romeo@a.test', 'private-out')), [1, 0, 0], 'only the sender has it: no copy to its other resources');
    assert.deepEqual(romeo.map((c) => seen(c, 'romeo@a.test', 'private-in')), [0, 0, 1]);
    assert.deepEqual(juliet.map((c) => seen(c, 'juliet@b.test', 'private-in')), [1, 0], 'only the sender has it');
    const delivered = j1.sent.find((e) => e.attrs.id === 'private-out');
    assert.ok(delivered && !delivered.getChild('private', NS_CARBONS));
    // A copy of what came over s2s is written in jabber:client, all the way down.
    const copies = [...romeo, ...juliet].flatMap((c) => c.sent.filter((e) => e.getChild('received', NS_CARBONS)));
    assert.ok(copies.length >= 5 && copies.every((e) => !String(e).includes('jabber:server')), 'no jabber:server inside a carbon');
    // In-bare went to all three resources of equal priority as the original: no carbons of it.
    assert.ok(romeo.every((c) => c.sent.some((e) => e.attrs.id === 'in-bare' && carried(e, 'romeo@a.test')?.carbon === false)));
  } finally {
    await pair.stop();
  }
});
