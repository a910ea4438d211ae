/**
 * The caps bookkeeping without a server (src/modules/caps/tracker.ts, discovery.ts, lru.ts): one
 * query per (hash, ver) however many JIDs announce it, a liar not trusted (and not poisoning the
 * ver for honest JIDs), bounded in-flight queries and timeouts, the LRU and JID bounds with
 * 10,000+ distinct hashes, and when `features-known` fires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { FakeClock } from '../../src/testing/index.js';
import { CapsTracker, type SkipReason, type TrackerLimits } from '../../src/modules/caps/tracker.js';
import { Lru } from '../../src/modules/caps/lru.js';
import type { Outcome } from '../../src/modules/caps/discovery.js';
import { computeVer, NS_DISCO_INFO, parseDiscoInfo } from '../../src/modules/caps/verification.js';
import { NS_CAPS } from '../../src/modules/caps/api.js';

const HOST = 'localhost';

/** A client's disco#info with `n` making it distinct; its true ver. */
function client(n: number | string, extra: string[] = []): { query: Element; ver: string } {
  const query = new Element('query', { xmlns: NS_DISCO_INFO });
  query.c('identity', { category: 'client', type: 'pc', name: `Client ${n}` });
  for (const f of ['http://jabber.org/protocol/caps', 'urn:xmpp:ping', ...extra]) query.c('feature', { var: f });
  return { query, ver: computeVer(parseDiscoInfo(query), 'sha-1') };
}

function caps(ver: string, hash = 'sha-1', node = 'https://example.org/client'): Element {
  return new Element('c', { xmlns: NS_CAPS, hash, node, ver });
}

function harness(limits: Partial<TrackerLimits> = {}) {
  const clock = new FakeClock();
  const sent: Element[] = [];
  const known: Array<{ jid: string; username: string; features: ReadonlySet<string> }> = [];
  const forgotten: string[] = [];
  const outcomes: Outcome[] = [];
  const skipped: SkipReason[] = [];
  let evicted = 0;
  const tracker = new CapsTracker(
    {
      host: HOST,
      send: (s) => sent.push(s),
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      featuresKnown: (jid, username, features) => known.push({ jid, username, features }),
      forgotten: (jid) => forgotten.push(jid),
      debug: () => undefined,
      count: {
        sent: () => undefined,
        outcome: (r) => outcomes.push(r),
        skipped: (r) => skipped.push(r),
        cacheHit: () => undefined,
        evicted: (n) => (evicted += n),
      },
    },
    { cacheSize: 10_000, maxJids: 100_000, maxWatchers: 1000, maxInFlight: 32, maxPending: 1000, timeoutMs: 30_000, maxAttempts: 3, ...limits },
  );
  /** Answer the query sent to `jid` (the last one) with `query`. */
  const answer = (jid: string, query: Element | undefined): boolean => {
    const i = sent.findLastIndex((s) => s.attrs.to === jid);
    assert.ok(i >= 0, `a query was sent to ${jid}`);
    const q = sent[i];
    assert.ok(q);
    const result = new Element('iq', { type: query ? 'result' : 'error', id: q.attrs.id, from: jid, to: q.attrs.from });
    if (query) result.cnode(query);
    return tracker.answer(result, jid);
  };
  return { tracker, clock, sent, known, forgotten, outcomes, skipped, answer, evicted: () => evicted };
}

test('a new ver is asked about once, from the account that received the presence, on node#ver', () => {
  const h = harness();
  const { query, ver } = client(1);
  h.tracker.available('romeo@remote.example/a', 'romeo@remote.example', 'juliet', caps(ver));
  h.tracker.available('benvolio@remote.example/b', 'benvolio@remote.example', 'juliet', caps(ver));
  h.tracker.available('tybalt@localhost/c', 'tybalt@localhost', 'tybalt', caps(ver));
  assert.equal(h.sent.length, 1, 'one query for three JIDs announcing the same ver');
  const q = h.sent[0];
  assert.ok(q);
  assert.equal(q.attrs.to, 'romeo@remote.example/a');
  assert.equal(q.attrs.from, 'juliet@localhost');
  assert.equal(q.getChild('query', NS_DISCO_INFO)?.attrs.node, `https://example.org/client#${ver}`);
  assert.equal(h.tracker.featuresOf('romeo@remote.example/a'), undefined, 'unknown until verified');
  assert.equal(h.tracker.announced('romeo@remote.example/a')?.state, 'pending');

  assert.ok(h.answer('romeo@remote.example/a', query));
  for (const jid of ['romeo@remote.example/a', 'benvolio@remote.example/b', 'tybalt@localhost/c']) {
    assert.ok(h.tracker.featuresOf(jid)?.has('urn:xmpp:ping'), jid);
  }
  assert.deepEqual(h.known.map((k) => `${k.username} ${k.jid}`).sort(), [
    'juliet benvolio@remote.example/b', 'juliet romeo@remote.example/a', 'tybalt tybalt@localhost/c',
  ]);
  // Another JID with the ver later: from the cache, no query; known at once.
  h.tracker.available('mercutio@remote.example/d', 'mercutio@remote.example', 'juliet', caps(ver));
  assert.equal(h.sent.length, 1);
  assert.ok(h.tracker.featuresOf('mercutio@remote.example/d'));
  assert.equal(h.known.length, 4);
  assert.deepEqual(h.outcomes, ['verified']);
});

test('a query for a user own resource comes from the user own bare JID', () => {
  const h = harness();
  const { ver } = client(2);
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'juliet', caps(ver));
  // juliet saw it first, but romeo himself is a watcher too by the time a second ver needs asking.
  const second = client(3);
  h.tracker.available('romeo@localhost/laptop', 'romeo@localhost', 'romeo', caps(second.ver));
  h.tracker.available('romeo@localhost/laptop', 'romeo@localhost', 'juliet', caps(second.ver));
  assert.equal(h.sent[1]?.attrs.from, 'romeo@localhost');
});

test('a client lying about its hash is not trusted; an honest JID with that ver still gets verified', () => {
  const h = harness();
  const honest = client('honest');
  const lie = client('liar', ['urn:example:not-in-the-hash']);
  h.tracker.available('liar@remote.example/x', 'liar@remote.example', 'juliet', caps(honest.ver));
  h.tracker.available('honest@remote.example/y', 'honest@remote.example', 'juliet', caps(honest.ver));
  assert.equal(h.sent.length, 1);
  assert.ok(h.answer('liar@remote.example/x', lie.query), 'the answer is taken');
  assert.deepEqual(h.outcomes, ['mismatch']);
  assert.equal(h.tracker.featuresOf('liar@remote.example/x'), undefined);
  assert.equal(h.tracker.announced('liar@remote.example/x')?.state, 'rejected');
  assert.equal(h.tracker.cache.size, 0, 'nothing cached for the ver');
  // §5.4: another JID announcing the ver is asked.
  assert.equal(h.sent.length, 2);
  assert.equal(h.sent[1]?.attrs.to, 'honest@remote.example/y');
  h.answer('honest@remote.example/y', honest.query);
  assert.ok(h.tracker.featuresOf('honest@remote.example/y'));
  assert.equal(h.tracker.featuresOf('liar@remote.example/x'), undefined, 'the liar stays untrusted for that ver');
  // The liar repeating its presence is not asked again.
  h.tracker.available('liar@remote.example/x', 'liar@remote.example', 'juliet', caps(honest.ver));
  assert.equal(h.sent.length, 2);
  assert.deepEqual(h.known.map((k) => k.jid), ['honest@remote.example/y']);
});

test('a lone liar: nothing cached, its features unknown; a duplicate-feature answer is ill-formed', () => {
  const h = harness();
  const { ver } = client('claimed');
  h.tracker.available('liar@remote.example/x', 'liar@remote.example', 'juliet', caps(ver));
  h.answer('liar@remote.example/x', client('other').query);
  assert.equal(h.tracker.cache.size, 0);
  assert.equal(h.tracker.featuresOf('liar@remote.example/x'), undefined);
  assert.equal(h.sent.length, 1, 'nobody else to ask');

  const dup = client('dup');
  dup.query.c('feature', { var: 'urn:xmpp:ping' });
  const dupVer = computeVer(parseDiscoInfo(dup.query), 'sha-1');
  h.tracker.available('dup@remote.example/z', 'dup@remote.example', 'juliet', caps(dupVer));
  h.answer('dup@remote.example/z', dup.query);
  assert.deepEqual(h.outcomes, ['mismatch', 'ill-formed']);
  assert.equal(h.tracker.featuresOf('dup@remote.example/z'), undefined);
});

test('an answer from another JID than the one asked, or with another id, is not taken', () => {
  const h = harness();
  const { query, ver } = client(4);
  h.tracker.available('romeo@remote.example/a', 'romeo@remote.example', 'juliet', caps(ver));
  const q = h.sent[0];
  assert.ok(q);
  const forged = new Element('iq', { type: 'result', id: q.attrs.id, from: 'mallory@remote.example/m' }).cnode(query).root();
  assert.equal(h.tracker.answer(forged, 'mallory@remote.example/m'), false);
  const wrongId = new Element('iq', { type: 'result', id: 'guess', from: 'romeo@remote.example/a' });
  assert.equal(h.tracker.answer(wrongId, 'romeo@remote.example/a'), false);
  assert.equal(h.tracker.featuresOf('romeo@remote.example/a'), undefined);
});

test('timeouts and errors: the next JID is asked; after the attempts the ver is given up and tried again later', () => {
  const h = harness({ maxAttempts: 2, timeoutMs: 1000 });
  const { query, ver } = client(5);
  for (const r of ['a', 'b', 'c']) h.tracker.available(`u@remote.example/${r}`, 'u@remote.example', 'juliet', caps(ver));
  h.clock.advance(1000);
  assert.equal(h.sent.length, 2);
  h.answer('u@remote.example/b', undefined); // an error
  assert.deepEqual(h.outcomes, ['timeout', 'error']);
  assert.equal(h.sent.length, 2, 'two attempts in all');
  assert.equal(h.tracker.announced('u@remote.example/c')?.state, 'failed');
  // A new presence with the ver asks again.
  h.tracker.available('u@remote.example/c', 'u@remote.example', 'juliet', caps(ver));
  assert.equal(h.sent.length, 3);
  h.answer('u@remote.example/c', query);
  assert.ok(h.tracker.featuresOf('u@remote.example/c'));
});

test('at most max queries in flight; the rest wait their turn; beyond max pending, caps are skipped', () => {
  const h = harness({ maxInFlight: 2, maxPending: 3 });
  const clients = [0, 1, 2, 3].map((i) => client(`q${i}`));
  clients.forEach((c, i) => h.tracker.available(`u${i}@remote.example/r`, `u${i}@remote.example`, 'juliet', caps(c.ver)));
  assert.equal(h.sent.length, 2);
  assert.equal(h.tracker.discovery.inFlight, 2);
  assert.deepEqual(h.skipped, ['busy'], 'the fourth ver is over max_pending');
  h.answer('u0@remote.example/r', clients[0]?.query);
  assert.equal(h.sent.length, 3, 'the queued one goes out when a slot frees');
  assert.equal(h.sent[2]?.attrs.to, 'u2@remote.example/r');
});

test('legacy caps (no hash), unsupported hashes and malformed caps are not looked at', () => {
  const h = harness();
  const legacy = new Element('c', { xmlns: NS_CAPS, node: 'http://psi-im.org/caps', ver: '0.11', ext: 'cs ep-notify html' });
  h.tracker.available('a@remote.example/r', 'a@remote.example', 'juliet', legacy);
  h.tracker.available('b@remote.example/r', 'b@remote.example', 'juliet', caps('abc=', 'md5'));
  h.tracker.available('c@remote.example/r', 'c@remote.example', 'juliet', new Element('c', { xmlns: NS_CAPS, hash: 'sha-1' }));
  h.tracker.available('d@remote.example/r', 'd@remote.example', 'juliet', caps('x'.repeat(200)));
  assert.equal(h.sent.length, 0);
  assert.deepEqual(h.skipped, ['legacy', 'unsupported_hash', 'malformed', 'malformed']);
  assert.deepEqual(h.tracker.resourcesOf('a@remote.example'), ['a@remote.example/r'], 'still known to be available');
});

test('features-known fires once per user, JID and ver; unavailable to every watcher forgets the JID', () => {
  const h = harness();
  const first = client(6);
  const second = client(7);
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'romeo', caps(first.ver));
  h.answer('romeo@localhost/phone', first.query);
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'juliet', caps(first.ver));
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'juliet', caps(first.ver)); // a status change
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'juliet', undefined); // caps optimisation: no <c/>
  assert.deepEqual(h.known.map((k) => k.username), ['romeo', 'juliet']);
  // New caps (a plugin enabled): each watcher hears of it once its presence with them arrives and it is verified.
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'romeo', caps(second.ver));
  h.tracker.available('romeo@localhost/phone', 'romeo@localhost', 'juliet', caps(second.ver));
  h.answer('romeo@localhost/phone', second.query);
  assert.deepEqual(h.known.map((k) => `${k.username} ${k.features.size}`), ['romeo 2', 'juliet 2', 'romeo 2', 'juliet 2']);
  assert.deepEqual(h.tracker.resourcesOf('romeo@localhost', 'juliet'), ['romeo@localhost/phone']);
  assert.deepEqual(h.tracker.resourcesOf('romeo@localhost', 'nurse'), []);

  h.tracker.unavailable('romeo@localhost/phone', 'juliet');
  assert.ok(h.tracker.featuresOf('romeo@localhost/phone'), 'romeo still sees himself');
  h.tracker.unavailable('romeo@localhost/phone', 'romeo');
  assert.equal(h.tracker.featuresOf('romeo@localhost/phone'), undefined);
  assert.deepEqual(h.forgotten, ['romeo@localhost/phone']);
  assert.deepEqual(h.tracker.resourcesOf('romeo@localhost'), []);
});

test('12,000 distinct hashes: the shared cache stays at cache_size and the JID table at max_jids', () => {
  const h = harness({ cacheSize: 10_000, maxJids: 2_000 });
  const N = 12_000;
  for (let i = 0; i < N; i++) {
    const { query, ver } = client(`bulk-${i}`);
    const jid = `user${i}@remote.example/r`;
    h.tracker.available(jid, `user${i}@remote.example`, 'juliet', caps(ver));
    h.answer(jid, query);
    if (i % 3 === 0) h.tracker.unavailable(jid, 'juliet');
  }
  assert.equal(h.sent.length, N, 'one query per distinct ver');
  assert.equal(h.tracker.cache.size, 10_000);
  assert.equal(h.evicted(), 2_000);
  assert.ok(h.tracker.table.size <= 2_000, `JIDs tracked: ${h.tracker.table.size}`);
  assert.equal(h.tracker.discovery.pendingCount, 0);
  assert.equal(h.tracker.discovery.inFlight, 0);
  // A JID still tracked keeps its features even when its ver left the cache (it holds the record).
  const last = `user${N - 1}@remote.example/r`;
  assert.ok(h.tracker.featuresOf(last));
});

test('LRU: get refreshes, set evicts the least recently used, capacity is checked', () => {
  const lru = new Lru<string, number>(2);
  lru.set('a', 1);
  lru.set('b', 2);
  assert.equal(lru.get('a'), 1);
  assert.deepEqual(lru.set('c', 3), [['b', 2]]);
  assert.equal(lru.peek('b'), undefined);
  assert.equal(lru.size, 2);
  assert.equal(lru.evictions, 1);
  assert.throws(() => new Lru(0));
});
