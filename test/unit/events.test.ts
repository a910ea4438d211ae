import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/logging.js';

test('handlers run by priority, first true stops the event', () => {
  const bus = new EventBus(silentLogger());
  const order: string[] = [];
  bus.on('host-activated', () => void order.push('low'), -5);
  bus.on('host-activated', () => {
    order.push('high');
  }, 10);
  bus.on('host-activated', () => {
    order.push('mid');
    return true;
  }, 0);
  assert.equal(bus.fire('host-activated', { host: 'x' }), true);
  assert.deepEqual(order, ['high', 'mid']);
});

test('equal priorities run in insertion order; removal works; unhandled returns false', () => {
  const bus = new EventBus(silentLogger());
  const order: number[] = [];
  const off1 = bus.on('host-activated', () => void order.push(1));
  bus.on('host-activated', () => void order.push(2));
  assert.equal(bus.fire('host-activated', { host: 'x' }), false);
  off1();
  bus.fire('host-activated', { host: 'x' });
  assert.deepEqual(order, [1, 2, 2]);
  assert.equal(bus.fire('server-stopping', { reason: 'x' }), false);
});

test('a throwing handler is recorded and the next handler still runs', () => {
  const bus = new EventBus(silentLogger());
  let ran = false;
  bus.on('server-stopping', () => {
    throw new Error('boom');
  }, 1);
  bus.on('server-stopping', () => {
    ran = true;
  });
  const payload: { reason: string; handlerError?: unknown } = { reason: 'x' };
  assert.equal(bus.fire('server-stopping', payload), false);
  assert.equal(ran, true);
  assert.match(String(payload.handlerError), /boom/);
});

test('a handler may remove itself while the event runs', () => {
  const bus = new EventBus(silentLogger());
  let calls = 0;
  const off = bus.on('host-activated', () => {
    calls++;
    off();
  });
  bus.on('host-activated', () => void calls++);
  bus.fire('host-activated', { host: 'x' });
  bus.fire('host-activated', { host: 'x' });
  assert.equal(calls, 3);
});
