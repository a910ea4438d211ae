/** XEP-0198 logic on its own: h arithmetic modulo 2^32, the unacked queue, resumption ids, the element parser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addH, diffH, parseH, H_MODULUS } from '../../src/modules/smacks/counter.js';
import { UnackedQueue } from '../../src/modules/smacks/queue.js';
import { ResumeRegistry } from '../../src/modules/smacks/registry.js';
import { NS_SM, parseSm } from '../../src/modules/smacks/elements.js';
import { memberOfResumptionId } from '../../src/core/session-mover.js';
import { fateOf, rerouted } from '../../src/modules/smacks/unacked.js';
import { approximateSize, Element, RawElement } from '../../src/xml/element.js';
import { message } from '../../src/xml/stanza.js';

const msg = (n: number) => message({ to: 'juliet@localhost/phone', id: `m${n}` });

test('h: addition and distance wrap at 2^32', () => {
  assert.equal(addH(H_MODULUS - 1), 0);
  assert.equal(addH(H_MODULUS - 2, 3), 1);
  assert.equal(diffH(1, H_MODULUS - 2), 3);
  assert.equal(diffH(5, 5), 0);
  assert.equal(diffH(4, 5), H_MODULUS - 1);
  fc.assert(fc.property(fc.nat(H_MODULUS - 1), fc.nat(100_000), (h, n) => diffH(addH(h, n), h) === n));
});

test('h: parseH takes unsigned 32-bit decimals only', () => {
  assert.equal(parseH('0'), 0);
  assert.equal(parseH('4294967295'), H_MODULUS - 1);
  assert.equal(parseH('007'), 7);
  for (const bad of [undefined, '', '-1', '4294967296', '1e3', ' 1', '0x10', '1.0', '99999999999999999999', 'NaN']) {
    assert.equal(parseH(bad), undefined, String(bad));
  }
});

test('queue: acks drop the acknowledged prefix; an h past what was sent (or behind the last ack) is refused', () => {
  const q = new UnackedQueue();
  for (let i = 1; i <= 5; i++) q.push(msg(i), i, 10);
  assert.deepEqual(q.ack(2), { ok: true, dropped: 2 });
  assert.deepEqual(q.unacked().map((x) => x.stanza.attrs.id), ['m3', 'm4', 'm5']);
  assert.deepEqual(q.ack(2), { ok: true, dropped: 0 }, 'the same h again is fine');
  assert.deepEqual(q.ack(6), { ok: false, sent: 5 });
  assert.deepEqual(q.ack(1), { ok: false, sent: 5 }, 'going backwards');
  assert.equal(q.length, 3, 'a refused ack changes nothing');
  assert.deepEqual(q.ack(5), { ok: true, dropped: 3 });
  assert.equal(q.length, 0);
});

test('queue: bytes count what is unacknowledged (acks and drain give them back)', () => {
  const q = new UnackedQueue();
  for (let i = 1; i <= 4; i++) q.push(msg(i), i, 100 * i);
  assert.equal(q.bytes, 1000);
  q.ack(2);
  assert.equal(q.bytes, 700);
  q.drain();
  assert.equal(q.bytes, 0);
});

test('approximateSize is close to the serialized length of plain stanzas', () => {
  const el = msg(1);
  el.c('body').t('x'.repeat(500));
  const exact = el.toString().length;
  const estimate = approximateSize(el);
  assert.ok(estimate > 0.8 * exact && estimate < 1.2 * exact, `${estimate} vs ${exact}`);
});

test('queue: counts wrap at 2^32 (an ack across the wrap)', () => {
  const q = new UnackedQueue();
  // Reach sent = acked = 2^32 - 2 quickly by pretending the counters advanced.
  Object.assign(q as unknown as { sentCount: number; ackedCount: number }, { sentCount: H_MODULUS - 2, ackedCount: H_MODULUS - 2 });
  for (let i = 1; i <= 4; i++) q.push(msg(i), i, 10);
  assert.equal(q.sent, 2);
  assert.deepEqual(q.ack(H_MODULUS - 1), { ok: true, dropped: 1 });
  assert.deepEqual(q.ack(1), { ok: true, dropped: 2 });
  assert.deepEqual(q.unacked().map((x) => x.stanza.attrs.id), ['m4']);
  assert.deepEqual(q.ack(3), { ok: false, sent: 2 });
  assert.equal(q.drain().length, 1);
  assert.equal(q.acked, 2);
});

test('queue: random pushes and valid acks keep length = sent - acked', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(5), fc.nat(7)), { maxLength: 40 }), (steps) => {
      const q = new UnackedQueue();
      let n = 0;
      for (const [pushes, ackBy] of steps) {
        for (let i = 0; i < pushes; i++) q.push(msg(n++), 0, 10);
        const before = q.length;
        const r = q.ack(addH(q.acked, ackBy));
        assert.equal(r.ok, ackBy <= before);
        assert.equal(q.length, r.ok ? before - ackBy : before);
        assert.equal(q.length, diffH(q.sent, q.acked));
      }
    }),
  );
});

test('registry: ids are unguessable and bound to their account; ended ones answer with their h until they age out', () => {
  const r = new ResumeRegistry<string>(2);
  const id = r.add('juliet@localhost', 'S1');
  assert.match(id, /^[A-Za-z0-9_-]{24}$/);
  assert.notEqual(r.add('juliet@localhost', 'S2'), id);
  assert.deepEqual(r.lookup(id, 'juliet@localhost', 0), { kind: 'live', session: 'S1' });
  assert.equal(r.lookup(id, 'romeo@localhost', 0), undefined, "another account's id is unknown");
  assert.equal(r.lookup('nope', 'juliet@localhost', 0), undefined);
  r.retire(id, 7, 100);
  assert.deepEqual(r.lookup(id, 'juliet@localhost', 50), { kind: 'gone', h: 7 });
  assert.equal(r.lookup(id, 'romeo@localhost', 50), undefined);
  assert.equal(r.lookup(id, 'juliet@localhost', 100), undefined, 'aged out');
  // The tombstone bound drops the oldest.
  const ids = [r.add('a@x', 'A'), r.add('b@x', 'B'), r.add('c@x', 'C')];
  ids.forEach((i, n) => r.retire(i, n, 1000));
  assert.equal(r.lookup(ids[0] as string, 'a@x', 0), undefined);
  assert.deepEqual(r.lookup(ids[2] as string, 'c@x', 0), { kind: 'gone', h: 2 });
});

test('parser: commands from elements; malformed ones are typed, never thrown', () => {
  const el = (name: string, attrs: Record<string, string> = {}) => new Element(name, { xmlns: NS_SM, ...attrs });
  assert.deepEqual(parseSm(el('enable')), { kind: 'enable', resume: false, max: undefined });
  assert.deepEqual(parseSm(el('enable', { resume: '1', max: '60' })), { kind: 'enable', resume: true, max: 60 });
  assert.deepEqual(parseSm(el('enable', { resume: 'yes', max: '0' })), { kind: 'enable', resume: false, max: undefined });
  assert.deepEqual(parseSm(el('a', { h: '3' })), { kind: 'a', h: 3 });
  assert.deepEqual(parseSm(el('a', { h: '-3' })), { kind: 'bad-ack' });
  assert.deepEqual(parseSm(el('a')), { kind: 'bad-ack' });
  assert.deepEqual(parseSm(el('resume', { previd: 'abc', h: '1' })), { kind: 'resume', previd: 'abc', h: 1 });
  assert.deepEqual(parseSm(el('resume', { previd: 'a b', h: '1' })), { kind: 'bad-resume' });
  assert.deepEqual(parseSm(el('resume', { previd: 'abc' })), { kind: 'bad-resume' });
  assert.deepEqual(parseSm(el('enabled')), { kind: 'unexpected', name: 'enabled' });
});

test('fates: chat/normal re-routed with a delay, iq get/set bounced, MAM results, carbons and the rest discarded', () => {
  const m = (type?: string) => message({ to: 'juliet@localhost/phone', from: 'romeo@localhost/a', type });
  assert.equal(fateOf(m()).action, 'reroute');
  assert.equal(fateOf(m('chat')).action, 'reroute');
  for (const t of ['error', 'groupchat', 'headline']) assert.deepEqual(fateOf(m(t)), { action: 'discard', reason: t });
  assert.equal(fateOf(new Element('iq', { type: 'get' })).action, 'bounce');
  assert.equal(fateOf(new Element('iq', { type: 'set' })).action, 'bounce');
  assert.deepEqual(fateOf(new Element('iq', { type: 'result' })), { action: 'discard', reason: 'iq-response' });
  assert.deepEqual(fateOf(new Element('presence')), { action: 'discard', reason: 'presence' });
  // A MAM result (also with its wrapping kept as text, as the mam module sends it) and a carbon copy are not messages to the account.
  const result = m();
  result.cnode(new RawElement('result', 'urn:xmpp:mam:2', "<result xmlns='urn:xmpp:mam:2' id='x'/>"));
  assert.deepEqual(fateOf(result), { action: 'discard', reason: 'mam-result' });
  const carbon = m('chat');
  carbon.c('received', { xmlns: 'urn:xmpp:carbons:2' });
  assert.deepEqual(fateOf(carbon), { action: 'discard', reason: 'carbon' });
  const chatWithReceipt = m('chat');
  chatWithReceipt.c('received', { xmlns: 'urn:xmpp:receipts', id: 'r1' });
  assert.equal(fateOf(chatWithReceipt).action, 'reroute', 'a XEP-0184 <received/> is not a carbon');
  const copy = rerouted(m('chat'), 'juliet@localhost', 'localhost', Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(copy.attrs.to, 'juliet@localhost');
  assert.equal(copy.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp, '2024-01-02T03:04:05.000Z');
  assert.equal(rerouted(copy, 'juliet@localhost', 'localhost', 0).getChildren('delay', 'urn:xmpp:delay').length, 1, 'not stamped twice');
});

test('cluster: ids name their member; an id made elsewhere can be adopted; a moved one forgotten', () => {
  const reg = new ResumeRegistry<string>();
  const id = reg.add('juliet@localhost', 's1', 'n1#Ab3_x');
  assert.match(id, /^n1#Ab3_x\.[A-Za-z0-9_-]{24}$/);
  assert.equal(memberOfResumptionId(id), 'n1#Ab3_x');
  assert.equal(memberOfResumptionId('n1.a#b.tok'), 'n1.a#b', 'node ids may hold dots: the token follows the last one');
  assert.equal(memberOfResumptionId(reg.add('juliet@localhost', 's2')), undefined, 'no member outside a cluster');
  reg.forget(id);
  assert.equal(reg.lookup(id, 'juliet@localhost', 0), undefined, 'forgotten without a tombstone');
  reg.adopt(id, 'juliet@localhost', 's3');
  assert.deepEqual(reg.lookup(id, 'juliet@localhost', 0), { kind: 'live', session: 's3' });
  assert.equal(reg.lookup(id, 'romeo@localhost', 0), undefined, 'still bound to its account');
  // The parser takes such ids, and still refuses what cannot be ours.
  const resume = (previd: string) => parseSm(new Element('resume', { xmlns: NS_SM, previd, h: '3' }));
  assert.deepEqual(resume(id), { kind: 'resume', previd: id, h: 3 });
  assert.equal(resume('n1#x.y.z').kind, 'bad-resume');
  assert.equal(resume('a b#c.tok').kind, 'bad-resume');
});

test('queue: restored from another node, it continues the counts (acks and re-sends follow the client h)', () => {
  const q = new UnackedQueue();
  q.restore(H_MODULUS - 1, [msg(1), msg(2), msg(3)].map((stanza) => ({ stanza, at: 0, size: approximateSize(stanza) })));
  assert.equal(q.length, 3);
  assert.equal(q.acked, H_MODULUS - 1);
  assert.equal(q.sent, 2, 'wraps');
  assert.equal(q.bytes, [msg(1), msg(2), msg(3)].reduce((n, m) => n + approximateSize(m), 0));
  assert.equal(q.valid(3), false);
  assert.deepEqual(q.ack(0), { ok: true, dropped: 1 });
  assert.deepEqual(q.unacked().map((x) => x.stanza.attrs.id), ['m2', 'm3']);
  q.push(msg(4), 0, 10);
  assert.equal(q.sent, 3);
});
