/** canto/testing itself: the fake clock, bounded waits, fake clients' receives(), the package export. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineModule } from '../../src/core/modules.js';
import { message } from '../../src/xml/stanza.js';
import messageModule from '../../src/modules/message/index.js';
import { FakeClock, startHarness, waitFor } from '../../src/testing/index.js';

test('FakeClock runs due timers in due order, intervals repeatedly, and nothing before its time', () => {
  const clock = new FakeClock(1000);
  const ran: string[] = [];
  clock.setTimeout(() => ran.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => ran.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => ran.push(`a2@${clock.now()}`), 10);
  const stop = clock.setInterval(() => ran.push(`i@${clock.now()}`), 15);
  const cancelled = clock.setTimeout(() => ran.push('never'), 5);
  cancelled();
  clock.advance(9);
  assert.deepEqual(ran, []);
  assert.equal(clock.now(), 1009);
  clock.advance(21);
  assert.deepEqual(ran, ['a@1010', 'a2@1010', 'i@1015', 'b@1020', 'i@1030']);
  stop();
  clock.advance(100);
  assert.equal(ran.length, 5);
  assert.equal(clock.pending, 0);
  assert.throws(() => clock.advance(-1), RangeError);
});

test('FakeClock: a timer set by a running timer runs in the same advance when it falls due', () => {
  const clock = new FakeClock(0);
  const ran: number[] = [];
  clock.setTimeout(() => {
    ran.push(clock.now());
    clock.setTimeout(() => ran.push(clock.now()), 5);
  }, 5);
  clock.advance(10);
  assert.deepEqual(ran, [5, 10]);
});

test('waitFor resolves with the value once the condition holds, and fails with the message in time', async () => {
  let n = 0;
  const timer = setInterval(() => n++, 1);
  try {
    assert.equal(await waitFor(() => (n >= 3 ? 'three' : undefined), { timeoutMs: 2000 }), 'three');
  } finally {
    clearInterval(timer);
  }
  const started = Date.now();
  await assert.rejects(waitFor(() => false, { timeoutMs: 30, message: () => 'never true' }), /^Error: never true \(within 30 ms\)$/);
  assert.ok(Date.now() - started < 1000);
});

test('a fake client receives what is routed to it, each stanza once, and a timeout lists what it got', async () => {
  const h = await startHarness({ modules: [messageModule] });
  try {
    const romeo = await h.client('romeo@localhost/phone');
    const juliet = await h.client('juliet@localhost/balcony');
    assert.equal(romeo.jid, 'romeo@localhost/phone');
    romeo.send(message({ to: 'juliet@localhost/balcony', id: 'm1' }).c('body').t('one').root());
    romeo.send(message({ to: 'juliet@localhost/balcony', id: 'm2' }).c('body').t('two').root());
    const first = await juliet.receives('message');
    const second = await juliet.receives('message');
    assert.deepEqual([first.attrs.id, second.attrs.id], ['m1', 'm2']);
    assert.equal(first.attrs.from, 'romeo@localhost/phone', "the router stamped 'from'");
    assert.equal(juliet.sent.length, 2, 'sent keeps everything');
    await assert.rejects(juliet.receives((el) => el.attrs.id === 'm3', { timeoutMs: 20 }), (err: Error) => {
      assert.match(err.message, /juliet@localhost\/balcony: no stanza matching .* within 20 ms; received:/);
      assert.match(err.message, /id="m1"|id='m1'/);
      return true;
    });
    juliet.session.close({ condition: 'policy-violation' });
    assert.deepEqual(await juliet.waitClosed(), { condition: 'policy-violation' });
    assert.ok(juliet.closed);
  } finally {
    await h.stop();
  }
});

test("the harness's clock is the server's: mod.clock, mod.setInterval and mod.now run on it, and their timers stop at unload", async () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  const ticker = defineModule({
    name: 'ticker',
    setup(mod) {
      const c = mod.clock;
      c.setInterval(() => fired.push(c.now()), 1000);
      mod.setInterval(() => fired.push(-mod.now()), 2000);
    },
  });
  const h = await startHarness({ modules: [ticker], clock });
  const t0 = clock.now();
  clock.advance(2500);
  assert.deepEqual(fired, [t0 + 1000, t0 + 2000, -(t0 + 2000)]);
  await h.stop();
  assert.equal(clock.pending, 0);
});

test("the package exports the kit as 'canto/testing'", async () => {
  // A non-literal specifier: resolved by Node through package.json "exports" at run time.
  const specifier = 'canto/testing';
  const kit = (await import(specifier)) as Record<string, unknown>;
  for (const name of ['startHarness', 'FakeClient', 'FakeClock', 'waitFor', 'settle']) assert.equal(typeof kit[name], 'function', name);
});
