/**
 * slixmpp for interop tests: Debian's python3-slixmpp, run with /usr/bin/python3 (the python3
 * first on PATH may be another interpreter without it). In CI a missing slixmpp registers a failing
 * test (scripts/install-test-deps.sh installs it); elsewhere the caller's tests are skipped with a
 * message saying how to get it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

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
