/**
 * Entry point of a Canto test server run in a child process (see server-process.ts), so a
 * test can measure the server's own memory with `global.gc` and load it from another process.
 * Options come as JSON in CANTO_CHILD_OPTIONS; the parent talks to it over the IPC channel.
 */
import { startTestServer } from './server.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { SocketConnection } from '../../src/net/socket-connection.js';
import type { ChildOptions, ChildReply, ChildRequest, SessionInfo } from './server-process.js';

/** Present when node runs with --expose-gc. */
const gc = (globalThis as { gc?: () => void }).gc;

/** Apply `patch` onto `target` key by key; objects are merged, everything else replaces. */
function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && current !== null && typeof current === 'object' && !Array.isArray(current)) {
      deepMerge(current as Record<string, unknown>, value as Record<string, unknown>);
    } else {
      target[key] = value;
    }
  }
}

function send(reply: ChildReply): void {
  process.send?.(reply);
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.CANTO_CHILD_OPTIONS ?? '{}') as ChildOptions;
  const ts = await startTestServer((config) => deepMerge(config as unknown as Record<string, unknown>, options.config ?? {}));

  if (options.accounts) {
    const { prefix, count, password } = options.accounts;
    // PBKDF2 once: every account shares the salt, which is fine for a test and keeps setup fast.
    const credentials = makeCredentials(password, { iterations: ts.config.auth.scram_iterations, hashes: ['SHA-1', 'SHA-256'] });
    for (let i = 0; i < count; i++) {
      if (!(await ts.server.storage.accounts.create('localhost', `${prefix}${i}`, credentials))) throw new Error(`account ${prefix}${i} exists`);
    }
  }

  const sessions = (): SessionInfo[] =>
    [...ts.server.sessions.all].map((s) => {
      const socket = s.conn instanceof SocketConnection ? s.conn.socket : undefined;
      return {
        type: s.type,
        jid: s.type === 'c2s' ? (s.fullJid ?? `${s.username}@${s.host}`) : undefined,
        ip: s.type === 'c2s' || s.type === 'c2s_unauthed' ? s.ip : undefined,
        bufferedBytes: s.conn.bufferedBytes,
        readingPaused: socket?.isPaused() ?? false,
      };
    });

  process.on('message', (raw) => {
    const req = raw as ChildRequest;
    switch (req.cmd) {
      case 'memory': {
        if (req.gc !== false) {
          // Two passes: the first can leave finalizer-held objects for the second.
          gc?.();
          gc?.();
        }
        send({ seq: req.seq, memory: process.memoryUsage(), gcAvailable: gc !== undefined });
        break;
      }
      case 'sessions':
        send({ seq: req.seq, sessions: sessions() });
        break;
      case 'stop':
        void ts.stop().then(() => {
          send({ seq: req.seq });
          process.disconnect();
        });
        break;
    }
  });
  // The test process went away (or is done with us): nothing is left to serve.
  process.on('disconnect', () => process.exit(0));
  send({ seq: 0, ready: { c2sPort: ts.c2sPort } });
}

main().catch((err: unknown) => {
  console.error('server-child failed to start:', err);
  process.exit(1);
});
