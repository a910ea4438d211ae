/** WebSocketConnection's read gate: messages wait in order while the gate says wait, the socket is paused meanwhile, and nothing is delivered after the close. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { WebSocketConnection } from '../../src/modules/websocket/connection.js';

function fakeWs(): { ws: WebSocket; calls: string[] } {
  const calls: string[] = [];
  const ws = { pause: () => calls.push('pause'), resume: () => calls.push('resume'), readyState: 1, bufferedAmount: 0 };
  // A stand-in with the two methods the gate uses; the rest of WebSocket is not touched here.
  return { ws: ws as unknown as WebSocket, calls };
}

test('messages wait in order behind the gate, with the socket paused; then flow again', async () => {
  const { ws, calls } = fakeWs();
  const conn = new WebSocketConnection(ws, '192.0.2.1', 1234, false);
  const delivered: number[] = [];
  conn.receive(10, () => delivered.push(0));
  assert.deepEqual(delivered, [0], 'no gate: at once');

  let release!: () => void;
  let asked: number[] = [];
  let waiting = true;
  conn.gateReads((bytes) => {
    asked.push(bytes);
    if (!waiting) return undefined;
    return new Promise<void>((r) => (release = r));
  });
  conn.receive(11, () => delivered.push(1));
  conn.receive(12, () => delivered.push(2));
  assert.deepEqual(delivered, [0], 'held');
  assert.deepEqual(asked, [11], 'the gate is asked for the first waiting message only');
  assert.deepEqual(calls, ['pause']);
  assert.equal(conn.readingHeld, true);
  waiting = false;
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(delivered, [0, 1, 2], 'in order');
  assert.deepEqual(asked, [11, 11, 12], 'asked again for the one that waited');
  assert.deepEqual(calls, ['pause', 'resume']);
  assert.equal(conn.readingHeld, false);

  asked = [];
  waiting = true;
  conn.receive(13, () => delivered.push(3));
  conn.closedByPeer();
  waiting = false;
  release();
  await new Promise((r) => setImmediate(r));
  conn.receive(14, () => delivered.push(4));
  assert.deepEqual(delivered, [0, 1, 2], 'nothing after the close');
  assert.deepEqual(calls, ['pause', 'resume', 'pause'], 'a closed socket is not resumed');
});
