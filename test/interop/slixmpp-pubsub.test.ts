/**
 * Issue 14, interop: slixmpp's xep_0060 plugin (Debian python3-slixmpp, /usr/bin/python3)
 * against the standalone pubsub service: create, subscribe, publish, the notification, items,
 * retract (notified) and delete (notified), by two slixmpp clients in `slixmpp_pubsub.py`.
 * In CI a missing slixmpp fails the file; elsewhere the test is skipped with a message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { runSlixmppScript, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import { SERVICE } from '../helpers/pubsub.js';

const PASSWORD = 'slix-pubsub-pässword';

const skip = slixmppSkip();

interface Step {
  event: string;
  name: string;
  ok: boolean;
  [key: string]: unknown;
}

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer((c) => {
    c.component = [{ domain: SERVICE, module: 'pubsub' }];
  });
  await createAccount(ts, 'slixpub', PASSWORD);
  await createAccount(ts, 'slixsub', PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

async function runScript(args: string[]): Promise<{ status: number | null; steps: Step[]; stderr: string }> {
  const { status, events, stderr } = await runSlixmppScript('slixmpp_pubsub.py', args, 60_000);
  return { status, steps: events as Step[], stderr };
}

test('slixmpp xep_0060: create, subscribe, publish, notification, items, retract, delete on pubsub.localhost', { skip, timeout: 90_000 }, async () => {
  const node = 'slixmpp-tunes';
  const { status, steps, stderr } = await runScript([
    '--publisher', 'slixpub@localhost/pub',
    '--subscriber', 'slixsub@localhost/sub',
    '--password', PASSWORD,
    '--port', String(ts.c2sPort),
    '--ca', caFile,
    '--service', SERVICE,
    '--node', node,
  ]);
  const diagnostics = `steps: ${JSON.stringify(steps)}\nstderr: ${stderr}`;
  const step = (name: string) => {
    const s = steps.find((x) => x.name === name);
    assert.ok(s?.ok, `${name}: ${diagnostics}`);
    return s;
  };
  assert.deepEqual(steps.map((s) => s.name), ['login', 'create', 'subscribe', 'publish', 'notified', 'items', 'retract', 'delete'], diagnostics);
  step('create');
  assert.equal(step('subscribe').subscription, 'subscribed');
  assert.equal(step('subscribe').jid, 'slixsub@localhost/sub');
  assert.equal(step('publish').id, 'song-1');
  const notified = step('notified');
  assert.deepEqual([notified.from, notified.node, notified.id, notified.title], [SERVICE, node, 'song-1', 'Yesterday']);
  assert.deepEqual(step('items').ids, ['song-1']);
  assert.equal(step('retract').retracted, 'song-1');
  assert.equal(step('delete').deleted, node);
  assert.equal(status, 0, diagnostics);
  // The node is gone from the store, items included.
  assert.deepEqual(await ts.server.storage.map(SERVICE, 'pubsub-nodes').keys(''), []);
  assert.deepEqual(await ts.server.storage.map(SERVICE, `pubsub-items:${node}`).keys(''), []);
});
