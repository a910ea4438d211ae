/**
 * Issue 14, interop: slixmpp's XEP-0163 (xep_0163 with xep_0060, xep_0115 and xep_0118 User
 * Tune) against Canto's PEP. Two slixmpp clients, mutual contacts, announce
 * `http://jabber.org/protocol/tune+notify` in their caps; once Canto has verified them, one
 * publishes a tune to its own PEP service, the other is notified (because of +notify: it never
 * subscribed), both read the item back, and a retraction reaches the contact. The agent is
 * slixmpp_pep.py (see its docstring). In CI a missing slixmpp fails the file; elsewhere the test
 * is skipped with a message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { makeContacts } from '../helpers/pubsub.js';
import { capsOf } from '../helpers/pep.js';
import { PYTHON, slixmppSkip } from '../helpers/slixmpp.js';
import { Wakeup } from '../../src/testing/wakeup.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'slix-pep-pässword';
const NS_TUNE = 'http://jabber.org/protocol/tune';
// Compiled to dist*/test/interop/; the script stays in the source tree.
const SCRIPT = fileURLToPath(new URL('../../../test/interop/slixmpp_pep.py', import.meta.url));

const skip = slixmppSkip();

interface AgentEvent {
  event: string;
  name?: string;
  ok?: boolean;
  [key: string]: unknown;
}

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer();
  await createAccount(ts, 'slixpep', PASSWORD);
  await createAccount(ts, 'slixfan', PASSWORD);
  await makeContacts(ts, 'slixpep', 'slixfan', []);
  const pem = ts.server.tls.forDomain('localhost')?.certificatePem;
  assert.ok(pem, 'the test server has a certificate for localhost');
  caFile = join(ts.dataDir, 'localhost-ca.pem');
  writeFileSync(caFile, pem);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

test('slixmpp xep_0163: a tune published to PEP reaches the +notify contact; items read back; retract notified', { skip, timeout: 90_000 }, async () => {
  const args = [SCRIPT, '--publisher', 'slixpep@localhost/player', '--contact', 'slixfan@localhost/fan', '--password', PASSWORD, '--port', String(ts.c2sPort), '--ca', caFile];
  if (process.env.CANTO_TEST_SLIXMPP_DEBUG) args.push('--debug');
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: AgentEvent[] = [];
  const wakeup = new Wakeup();
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as AgentEvent);
    wakeup.wake();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const kill = setTimeout(() => child.kill('SIGKILL'), 80_000);
  const diagnostics = (): string => `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
  try {
    const ready = await wakeup.until(
      () => events.find((e) => e.event === 'ready' || e.ok === false),
      30_000,
      () => new Error(`slixmpp did not log in\n${diagnostics()}`),
    );
    assert.equal(ready.event, 'ready', diagnostics());
    // Both clients' caps verified by Canto, with the +notify the notification depends on.
    const caps = capsOf(ts);
    for (const jid of [String(ready.publisher), String(ready.contact)]) {
      await waitFor(() => caps.hasFeature(jid, `${NS_TUNE}+notify`), { timeoutMs: 20_000, message: `${jid}: tune+notify verified\n${diagnostics()}` });
    }
    child.stdin.write('go\n');
    const status = await exited;
    const steps = events.filter((e) => e.event === 'step');
    const step = (name: string) => {
      const s = steps.find((x) => x.name === name);
      assert.ok(s?.ok, `${name}: ${diagnostics()}`);
      return s;
    };
    assert.deepEqual(steps.map((s) => s.name), ['publish', 'notified', 'contact_items', 'own_items', 'retract'], diagnostics());
    const id = step('publish').id;
    const notified = step('notified');
    assert.deepEqual([notified.from, notified.node, notified.id, notified.artist, notified.title], ['slixpep@localhost', NS_TUNE, id, 'Nina Simone', 'Feeling Good']);
    assert.deepEqual(step('contact_items').ids, [id]);
    assert.deepEqual([step('own_items').ids, step('own_items').artist], [[id], 'Nina Simone']);
    assert.equal(step('retract').retracted, id);
    assert.equal(status, 0, diagnostics());
  } finally {
    clearTimeout(kill);
    child.stdin.end();
    await exited;
  }
});
