/**
 * slixmpp for interop tests: Debian's python3-slixmpp, run with /usr/bin/python3 (the python3
 * first on PATH may be another interpreter without it). In CI a missing slixmpp registers a failing
 * test (scripts/install-test-deps.sh installs it); elsewhere the caller's tests are skipped with a
 * message saying how to get it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestServer } from './server.js';

export const PYTHON = '/usr/bin/python3';

/** A slixmpp agent script of test/interop/ (compiled tests run from dist/test; the scripts stay in the source tree). */
export function slixmppScript(name: string): string {
  return fileURLToPath(new URL(`../../../test/interop/${name}`, import.meta.url));
}

/** Writes the test server's localhost certificate where an agent's `--ca` can trust it as the only CA; returns the file. */
export function writeServerCa(ts: TestServer, file = join(ts.dataDir, 'localhost-ca.pem')): string {
  const pem = ts.server.tls.forDomain('localhost')?.certificatePem;
  assert.ok(pem, 'the test server has a certificate for localhost');
  writeFileSync(file, pem);
  return file;
}

/** One JSON line an agent printed (slixmpp_common.emit). */
export interface AgentEvent {
  event: string;
  [key: string]: unknown;
}

/**
 * Runs an agent script to its end (killed after `timeoutMs`) and returns its exit status, the
 * JSON lines it printed and its stderr. CANTO_TEST_SLIXMPP_DEBUG=1 adds `--debug`, which puts
 * slixmpp's log (the XML both ways) on stderr, so into failure messages.
 */
export async function runSlixmppScript(script: string, args: string[], timeoutMs: number): Promise<{ status: number | null; events: AgentEvent[]; stderr: string }> {
  const all = process.env.CANTO_TEST_SLIXMPP_DEBUG ? [...args, '--debug'] : args;
  const child = spawn(PYTHON, [slixmppScript(script), ...all], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
  });
  const events = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AgentEvent);
  return { status, events, stderr };
}

function slixmppMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import slixmpp'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot run: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} -c 'import slixmpp' failed: ${r.stderr.trim()}`;
  return undefined;
}

/** The `skip` option for slixmpp tests: a reason outside CI when slixmpp is missing, else false. */
export function slixmppSkip(): string | false {
  const missing = slixmppMissing();
  if (missing === undefined) return false;
  if (process.env.CI) {
    // CI installs python3-slixmpp; a missing client there is a broken setup, never a skip.
    test('slixmpp is installed (CI)', () => {
      assert.fail(`${missing} — run scripts/install-test-deps.sh`);
    });
    return false;
  }
  return `slixmpp is not available (${missing}); install python3-slixmpp (scripts/install-test-deps.sh)`;
}
