/**
 * A load-generator child of the idle scenario (started by ./child-generators.ts): logs its
 * slice of users in with BenchClient, holds the connections until the parent says 'close' (or
 * goes away), and answers how many are still open. One socket per connection, so one process
 * is limited by the open-files limit; the parent spreads large runs over several children.
 */
import type { BenchClient } from './client.js';
import { closeAll, loginMany } from '../scenarios/connect.js';
import type { FromIdleChild, ToIdleChild } from './idle-protocol.js';

/** Minimum time between two progress reports. */
const PROGRESS_EVERY_MS = 500;
/** How long closing waits for the sockets before the child exits anyway. */
const CLOSE_WAIT_MS = 3000;

let clients: BenchClient[] = [];
let closing = false;

function send(message: FromIdleChild): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function openCount(): number {
  return clients.filter((c) => !c.closed).length;
}

async function closeAndExit(code: number): Promise<never> {
  closing = true;
  closeAll(clients);
  const deadline = Date.now() + CLOSE_WAIT_MS;
  while (openCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  process.exit(code);
}

async function login(m: Extract<ToIdleChild, { type: 'login' }>): Promise<void> {
  let lastReport = 0;
  try {
    clients = await loginMany({ port: m.port, host: m.host, localAddress: m.localAddress, domain: m.domain, password: m.password, username: (i) => m.usernames[i] ?? `missing-${i}` }, 0, m.usernames.length, {
      presence: m.presence,
      deadlineMs: m.deadlineMs,
      concurrency: m.concurrency,
      onProgress: (done) => {
        const now = Date.now();
        if (now - lastReport < PROGRESS_EVERY_MS) return;
        lastReport = now;
        void send({ type: 'progress', done });
      },
    });
  } catch (err) {
    await send({ type: 'error', message: (err as Error).message });
    return closeAndExit(1);
  }
  if (closing) return; // told to close while logging in
  await send({ type: 'ready', open: openCount() });
}

process.on('message', (m: ToIdleChild) => {
  switch (m.type) {
    case 'login':
      void login(m);
      break;
    case 'count': {
      const cpu = process.cpuUsage();
      void send({ type: 'count', open: openCount(), cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      break;
    }
    case 'close':
      void closeAndExit(0);
      break;
  }
});
// The parent went away (or closed the channel): nothing may be left holding connections.
process.on('disconnect', () => void closeAndExit(0));
if (!process.send) {
  process.stderr.write('idle-child: must be started with an IPC channel (by the idle scenario)\n');
  process.exit(2);
}
