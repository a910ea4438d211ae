/**
 * Issue 14, interop: XEP-0115 between slixmpp (Debian python3-slixmpp, its xep_0115 plugin) and
 * Canto, a cross-implementation check both ways: Canto asks slixmpp for the disco#info behind
 * its caps and must compute the same ver slixmpp did; slixmpp verifies the caps Canto advertises
 * in its stream features with its own code. The agent is slixmpp_caps.py (see its docstring).
 * In CI a missing slixmpp fails the file; elsewhere the test is skipped with a message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { PYTHON, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import { Wakeup } from '../../src/testing/wakeup.js';
import { waitFor } from '../../src/testing/index.js';
import type { CapsService } from '../../src/modules/caps/index.js';

const PASSWORD = 'slix-caps-pässword';
// Compiled to dist*/test/interop/; the script stays in the source tree.
const SCRIPT = fileURLToPath(new URL('../../../test/interop/slixmpp_caps.py', import.meta.url));

const skip = slixmppSkip();

interface AgentEvent {
  event: string;
  [key: string]: unknown;
}

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer();
  await createAccount(ts, 'slixcaps', PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

test("slixmpp's caps are verified by Canto (same ver), and slixmpp verifies Canto's", { skip, timeout: 60_000 }, async () => {
  const args = [SCRIPT, '--jid', 'slixcaps@localhost/caps', '--password', PASSWORD, '--port', String(ts.c2sPort), '--ca', caFile];
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
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const diagnostics = (): string => `events: ${JSON.stringify(events)}\nstderr: ${stderr}`;
  const next = (name: string): Promise<AgentEvent> =>
    wakeup.until(
      () => events.find((e) => e.event === name || e.event === 'failed'),
      30_000,
      () => new Error(`no ${name} from slixmpp\n${diagnostics()}`),
    ).then((e) => {
      assert.notEqual(e.event, 'failed', diagnostics());
      return e;
    });
  try {
    const caps = ts.server.hosts.get('localhost')?.services.get('caps') as CapsService;
    const start = await next('session_start');
    const jid = String(start.jid);
    const features = await waitFor(() => caps.featuresOf(jid), { timeoutMs: 20_000, message: `Canto verified slixmpp's caps\n${diagnostics()}` });
    assert.deepEqual(caps.announced(jid), { hash: 'sha-1', node: String(start.node), ver: String(start.ver), state: 'verified' });
    assert.ok(features.has('http://jabber.org/protocol/caps'));
    assert.ok(features.has('urn:xmpp:avatar:metadata+notify'), 'the PEP interest slixmpp registered');

    const server = await next('server_caps');
    assert.equal(server.ver, caps.ownCaps().ver, "slixmpp verified Canto's ver with its own code");
    console.log(`slixmpp caps ${String(start.ver)} verified by Canto; Canto's ${String(server.ver)} verified by slixmpp`);
  } finally {
    child.stdin.end();
    await exited;
  }
});
