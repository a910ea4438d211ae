/** The limits module's pieces (one loopback socket for the read gate): debt buckets, pausing and resuming reads, the bucket store, the option checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { FakeClock, startHarness, waitFor } from '../../src/testing/index.js';
import { READ_TURN_BYTES, SocketConnection } from '../../src/net/socket-connection.js';
import { DebtBucket } from '../../src/modules/limits/debt-bucket.js';
import { ReadThrottle } from '../../src/modules/limits/read-throttle.js';
import { MemoryBucketStore } from '../../src/modules/limits/bucket-store.js';
import { SharedDebtBucket } from '../../src/modules/limits/shared-bucket.js';
import limits from '../../src/modules/limits/index.js';

test('a debt bucket spends below zero and says how long until it is out of debt', () => {
  const b = new DebtBucket({ rate: 10, burst: 20 }, 0);
  b.spend(20, 0);
  assert.equal(b.waitMs(0), 0, 'exactly empty is not in debt');
  b.spend(5, 0);
  assert.equal(b.waitMs(0), 500, '5 tokens at 10/s');
  assert.equal(b.waitMs(300), 200);
  assert.equal(b.waitMs(500), 0);
  assert.equal(b.isFull(500), false);
  assert.equal(b.isFull(2500), true, 'refills to the burst and no further');
  b.spend(1, 100_000);
  assert.equal(b.waitMs(100_000), 0, 'a long quiet spell refills only up to the burst');
});

test('a debt bucket refuses a limit without a rate or a burst', () => {
  assert.throws(() => new DebtBucket({ rate: 0, burst: 1 }, 0), RangeError);
  assert.throws(() => new DebtBucket({ rate: 1, burst: 0 }, 0), RangeError);
});

function throttleWith(clock: FakeClock, stanzaRate: number, stanzaBurst: number, byteRate = 1e9, byteBurst = 1e9) {
  const stanzas = new DebtBucket({ rate: stanzaRate, burst: stanzaBurst }, clock.now());
  const bytes = new DebtBucket({ rate: byteRate, burst: byteBurst }, clock.now());
  let pausedFor: number[] = [];
  const throttle = new ReadThrottle({
    stanzaBuckets: [stanzas],
    byteBuckets: [bytes],
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    paused: (ms) => pausedFor.push(ms),
  });
  return { throttle, pausedFor: () => pausedFor, reset: () => void (pausedFor = []) };
}

/** Whether a gate's answer settled (after the microtasks of a timer have run). */
async function settled(p: Promise<void> | undefined): Promise<boolean> {
  if (p === undefined) return true;
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

test('the gate waits once the stanza bucket is in debt, until it is paid back', async () => {
  const clock = new FakeClock(0);
  const { throttle, pausedFor } = throttleWith(clock, 10, 5);
  for (let i = 0; i < 5; i++) throttle.stanza();
  assert.equal(throttle.gate(100), undefined, 'the burst passes');
  throttle.stanza();
  throttle.stanza(); // two over the burst
  const wait = throttle.gate(100);
  assert.ok(wait, 'in debt: the next slice waits');
  assert.deepEqual(pausedFor(), [200], 'two stanzas of debt at 10/s: 200 ms');
  assert.equal(throttle.gate(100), wait, 'asking again while paused gives the same wait');
  clock.advance(199);
  assert.equal(await settled(wait), false);
  clock.advance(1);
  assert.equal(await settled(wait), true, 'reading resumes');
  assert.equal(throttle.gate(100), undefined);
  assert.equal(throttle.pauses, 1);
});

test('bytes are spent slice by slice: the slice after the debt waits for as long as the debt costs', async () => {
  const clock = new FakeClock(0);
  const { throttle } = throttleWith(clock, 1e6, 1e6, 1000, 1000);
  assert.equal(throttle.gate(1000), undefined);
  assert.equal(throttle.gate(2000), undefined, 'a slice is let through when the bucket is not in debt (then spent: 2000 in debt)');
  const wait = throttle.gate(10);
  assert.ok(wait);
  clock.advance(1999);
  assert.equal(await settled(wait), false);
  clock.advance(1);
  assert.equal(await settled(wait), true);
});

test('a shared bucket spent by another reader while paused keeps the pause going', async () => {
  const clock = new FakeClock(0);
  const shared = new DebtBucket({ rate: 10, burst: 1 }, 0);
  const make = () => new ReadThrottle({
    stanzaBuckets: [shared],
    byteBuckets: [],
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
  });
  const a = make();
  const b = make();
  a.stanza();
  a.stanza(); // 1 in debt: 100 ms
  const waitA = a.gate(1);
  assert.ok(waitA);
  clock.advance(50);
  b.stanza(); // the address's bucket is now 1.5 in debt
  const waitB = b.gate(1);
  assert.ok(waitB);
  clock.advance(50);
  assert.equal(await settled(waitA), false, 'a waits again: the shared bucket is still in debt');
  clock.advance(100);
  assert.equal(await settled(waitA), true);
  assert.equal(await settled(waitB), true);
});

test('dispose lets a waiting reader go and cancels the timer', async () => {
  const clock = new FakeClock(0);
  const { throttle } = throttleWith(clock, 1, 1);
  throttle.stanza();
  throttle.stanza();
  const wait = throttle.gate(1);
  assert.ok(wait);
  throttle.dispose();
  assert.equal(await settled(wait), true);
  assert.equal(clock.pending, 0);
  throttle.stanza();
  assert.equal(throttle.gate(1), undefined, 'a disposed throttle never waits again');
});

test('a socket connection with a gate hands over what it reads in slices, in order, and holds the rest while the gate waits', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(port, '127.0.0.1');
  const socket = await accepted;
  try {
    const got: Buffer[] = [];
    const conn = new SocketConnection(socket, { data: (c) => void got.push(c), close: () => {} });
    let release!: () => void;
    let asked = 0;
    let through = 0;
    conn.gateReads((bytes) => {
      asked++;
      assert.ok(bytes <= 2048, 'slices of at most 2 KiB');
      // The third slice waits until released.
      if (asked === 3) return new Promise<void>((r) => (release = r));
      if (asked < 3) through += bytes;
      return undefined;
    });
    const payload = Buffer.alloc(10_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    client.write(payload);
    await waitFor(() => asked >= 3);
    await new Promise((r) => setTimeout(r, 50)); // a moment in which nothing more may arrive
    assert.equal(Buffer.concat(got).length, through, 'two slices handled, the rest held');
    assert.equal(asked, 3, 'the gate is not asked again until its wait is over');
    release();
    await waitFor(() => Buffer.concat(got).length === payload.length);
    assert.deepEqual(Buffer.concat(got), payload, 'everything, in order');
  } finally {
    client.destroy();
    socket.destroy();
    server.close();
  }
});

test('a gated socket connection handles a big read a share at a time, letting the event loop turn in between', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(port, '127.0.0.1');
  const socket = await accepted;
  // Count the event loop's turns: bytes handed over per turn show how long one connection holds the loop.
  let turn = 0;
  let counting = true;
  const tick = (): void => {
    turn++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const got: Buffer[] = [];
    const perTurn = new Map<number, number>();
    const conn = new SocketConnection(socket, {
      data: (c) => {
        got.push(c);
        perTurn.set(turn, (perTurn.get(turn) ?? 0) + c.length);
      },
      close: () => {},
    });
    conn.gateReads(() => undefined); // a gate that never waits: only the turn share limits
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 253;
    client.write(payload);
    await waitFor(() => Buffer.concat(got).length === payload.length);
    assert.deepEqual(Buffer.concat(got), payload, 'everything, in order');
    const most = Math.max(...perTurn.values());
    // A share, plus at most one more when the socket's next chunk arrives in the turn the share ended.
    assert.ok(most <= 2 * READ_TURN_BYTES, `at most two shares per turn, saw ${most} bytes in one turn`);
    assert.ok(perTurn.size >= payload.length / (2 * READ_TURN_BYTES), `spread over ${perTurn.size} turns`);
  } finally {
    counting = false;
    client.destroy();
    socket.destroy();
    server.close();
  }
});

test('the memory bucket store keeps one bucket per key and limit', async () => {
  let now = 0;
  const store = new MemoryBucketStore(() => now);
  const limit = { rate: 1, burst: 2 };
  assert.equal(await store.take('a', limit), true);
  assert.equal(await store.take('a', limit), true);
  assert.equal(await store.take('a', limit), false);
  assert.equal(await store.take('b', limit), true, 'keys are apart');
  assert.equal(await store.take('a', { rate: 1, burst: 5 }), true, 'another limit is another bucket');
  now += 1000;
  assert.equal(await store.take('a', limit), true, 'one token back after a second');
  assert.equal(await store.take('a', limit), false);
  await store.close();
});

test('bad [modules.limits] values stop the module with the key in the message', async () => {
  await assert.rejects(
    startHarness({ modules: [limits], config: (c) => void (c.modules.limits = { c2s: { stanzas_per_second: -1 } }) }),
    /modules\.limits\.c2s\.stanzas_per_second/,
  );
  await assert.rejects(
    startHarness({ modules: [limits], config: (c) => void (c.modules.limits = { c2s: { byte_burst: 'lots' } }) }),
    /modules\.limits\.c2s\.byte_burst/,
  );
});

test('a shared bucket spends locally and settles with the store in batches, taking its balance', async () => {
  const clock = new FakeClock(0);
  const calls: number[] = [];
  /** The shared balance; another node spends from it too. */
  let shared = 100;
  let release: (() => void) | undefined;
  const store = {
    spend: (_key: string, _limit: { rate: number; burst: number }, n: number): Promise<number | undefined> => {
      calls.push(n);
      shared -= n;
      // The answer comes later, as from Redis; reads (and other nodes) go on meanwhile.
      return new Promise((resolve) => (release = () => resolve(shared)));
    },
  };
  const settle = async (): Promise<void> => {
    const r = release;
    release = undefined;
    r?.();
    await Promise.resolve();
    await Promise.resolve();
  };
  const b = new SharedDebtBucket({ key: 'k', limit: { rate: 10, burst: 100 }, store, now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms), batch: 10, flushMs: 100 });
  assert.deepEqual(calls, [0], 'the balance is asked for at once');
  shared -= 150; // another node spent the address's budget
  await settle();
  assert.ok(b.waitMs(clock.now()) > 0, 'the other node\'s spending is seen: in debt');
  clock.advance(6000); // refilled locally (10/s)
  assert.equal(b.waitMs(clock.now()), 0);
  for (let i = 0; i < 9; i++) b.spend(1, clock.now());
  assert.deepEqual(calls, [0], 'below a batch: no call yet');
  b.spend(1, clock.now());
  assert.deepEqual(calls, [0, 10], 'a batch settles');
  for (let i = 0; i < 25; i++) b.spend(1, clock.now());
  assert.deepEqual(calls, [0, 10], 'one call in flight at a time');
  await settle();
  assert.deepEqual(calls, [0, 10, 25], 'what was spent meanwhile settles when the answer comes');
  await settle();
  b.spend(3, clock.now());
  assert.deepEqual(calls, [0, 10, 25]);
  clock.advance(100);
  assert.deepEqual(calls, [0, 10, 25, 3], 'a small remainder settles after flushMs');
  await settle();
  assert.equal(b.settlements, 4);
});

test('a shared bucket whose store is away goes on counting locally', async () => {
  const clock = new FakeClock(0);
  const b = new SharedDebtBucket({ key: 'k', limit: { rate: 1, burst: 5 }, store: { spend: () => Promise.resolve(undefined) }, now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms) });
  await Promise.resolve();
  b.spend(7, clock.now());
  await Promise.resolve();
  assert.equal(b.waitMs(clock.now()), 2000, 'limited by its local copy alone');
});
