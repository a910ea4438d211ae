/**
 * What the tests against real peers (Prosody, ejabberd) share: stopping the peer's process by its
 * PID, and the CI rule for a missing peer (in CI it is a failure, never a skip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../../src/testing/index.js';

/** SIGTERM, then SIGKILL after `ms`; resolves when the process has exited. */
export async function stopChild(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, ms);
  await exited;
  clearTimeout(timer);
}

/**
 * The `skip` for a suite that needs `peer`: false when it is there (`missing` undefined). When it
 * is missing, CI (scripts/install-test-deps.sh installs it) gets a failing test saying so and
 * everywhere else the suite is skipped with the reason.
 */
export function peerSkip(peer: string, missing: string | undefined): string | false {
  if (missing === undefined) return false;
  if (process.env.CI) {
    test(`${peer} is installed (CI)`, () => {
      assert.fail(`${missing} — run scripts/install-test-deps.sh`);
    });
    return `${peer} is not available`;
  }
  return `${peer} is not available (${missing}); install it with scripts/install-test-deps.sh`;
}

/**
 * Wait until `ready()` says the peer is up (it is polled; the peer is given `seconds`). If the
 * process exits or time runs out, the peer is stopped and the error carries the tail of its log.
 */
export async function whenPeerReady(
  name: string,
  child: ChildProcess,
  ready: () => boolean | Promise<boolean>,
  seconds: number,
  onFailure: { logTail: () => string; stop: () => Promise<void> },
): Promise<number> {
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
        return ready();
      },
      { timeoutMs: seconds * 1000, intervalMs: 100, message: `${name} not ready after ${seconds} s` },
    );
  } catch (err) {
    const tail = onFailure.logTail();
    await onFailure.stop();
    throw new Error(`${name} did not start: ${(err as Error).message}\n${tail}`);
  }
  if (child.pid === undefined) throw new Error(`no PID for the ${name} process`);
  return child.pid;
}
