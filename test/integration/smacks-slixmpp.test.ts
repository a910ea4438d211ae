/**
 * slixmpp (Debian python3-slixmpp 1.8, /usr/bin/python3) with its xep_0198 plugin: enables
 * stream management with resumption and exchanges acks both ways (it asks every 5 stanzas, the
 * server asks after request_after). Channel binding off, as in slixmpp.test.ts (see
 * slixmpp_selftest.py for why).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { PYTHON, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import type { Element } from '../../src/xml/element.js';

const SCRIPT = fileURLToPath(new URL('../../../test/interop/slixmpp_smacks.py', import.meta.url));
const skip = slixmppSkip();

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer((c) => (c.modules.smacks = { request_after: 3 }));
  await createAccount(ts, 'slix', 'slix-pass');
  caFile = writeServerCa(ts);
});
after(async () => {
  if (skip) return;
  await ts.stop();
});

test('slixmpp xep_0198 enables resumable SM and acks both ways', { skip, timeout: 40_000 }, async () => {
  // What the client sends in the SM namespace, seen on the server.
  const fromClient: Element[] = [];
  const off = ts.server.hosts.get('localhost')?.events.on('stream-element', ({ element }) => {
    if (element.xmlns === 'urn:xmpp:sm:3') fromClient.push(element);
    return false;
  }, 100);
  try {
    const args = [SCRIPT, '--jid', 'slix@localhost/sm', '--password', 'slix-pass', '--port', String(ts.c2sPort), '--ca', caFile, '--count', '7'];
    if (process.env.CANTO_TEST_SLIXMPP_DEBUG) args.push('--debug');
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve(code);
      });
    });
    const events = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(status, 0, `${stdout}\n${stderr}`);
    const enabled = events.find((e) => e.event === 'sm_enabled');
    assert.ok(enabled, stdout);
    assert.equal(enabled.resume, true);
    assert.equal(enabled.max, '600');
    assert.deepEqual(events.find((e) => e.event === 'done'), { event: 'done', received: 7, acked: 7, handled: 7 });
    const names = fromClient.map((e) => e.name);
    assert.equal(names[0], 'enable');
    assert.ok(names.includes('r'), `the client asked for acks: ${names.join(' ')}`);
    assert.ok(names.includes('a'), `the client answered our <r/>: ${names.join(' ')}`);
  } finally {
    off?.();
  }
});
