/**
 * The admin socket (global): a Unix socket in data_dir (`admin.sock`; `admin-<n>.sock` per
 * cluster worker) through which the `canto` command asks the running server things only it
 * knows, such as the push trace (`canto push-trace`). Modules add commands through the
 * `admin-commands` service. README.md in this folder.
 *
 * Why a Unix socket and not a port: its permissions are the access control. It is created with
 * mode 0600 in data_dir (0700), so only the user the server runs as (and root) can connect,
 * with no password or token to configure, leak or rotate, and nothing on the network.
 */
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { defineModule } from '../../core/modules.js';
import { adminSocketName, MAX_REQUEST_BYTES, type AdminRequest, type AdminResponse } from './protocol.js';

/** A command's handler: its result is sent as JSON; throw AdminError for an answer the client shows as is. */
export type AdminHandler = (args: Record<string, unknown>) => unknown;

export class AdminError extends Error {}

export interface AdminCommands {
  /** Add `command` for `host` ('*' for server-wide commands); returns the function that removes it. */
  register(command: string, host: string, handler: AdminHandler): () => void;
  /** Answer a request as the socket does (tests, and an admin API later). */
  ask(request: AdminRequest): Promise<AdminResponse>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'admin-commands': AdminCommands;
  }
}

/** A sun_path holds 108 bytes on Linux (104 on the BSDs), the terminating NUL included. */
const MAX_SOCKET_PATH = 103;
/** A client that sends nothing usable in this time is disconnected. */
const REQUEST_TIMEOUT_MS = 10_000;

export default defineModule({
  name: 'adminsocket',
  description: 'Unix socket in data_dir for the canto command (push-trace)',
  scope: 'global',
  async setup(mod) {
    const commands = new Map<string, AdminHandler>();
    const keyOf = (command: string, host: string) => `${command}\u0000${host}`;
    const answer = async (line: string): Promise<AdminResponse> => {
      let request: AdminRequest;
      try {
        request = JSON.parse(line) as AdminRequest;
      } catch {
        return { ok: false, error: 'the request is not JSON' };
      }
      if (typeof request !== 'object' || request === null || typeof request.command !== 'string') return { ok: false, error: 'the request needs a "command"' };
      const handler = commands.get(keyOf(request.command, typeof request.host === 'string' ? request.host : '*'));
      if (handler === undefined) {
        const known = [...commands.keys()].some((k) => k.startsWith(`${request.command}\u0000`));
        return { ok: false, error: known ? `${request.command}: not available for host ${String(request.host)}` : `unknown command "${request.command}" (is its module enabled?)` };
      }
      try {
        const args = typeof request.args === 'object' && request.args !== null ? request.args : {};
        return { ok: true, result: await handler(args) };
      } catch (err) {
        if (err instanceof AdminError) return { ok: false, error: err.message };
        mod.log.error({ err, command: request.command }, 'admin command failed');
        return { ok: false, error: 'the command failed (see the server log)' };
      }
    };

    mod.provides('admin-commands', {
      register(command, host, handler) {
        const key = keyOf(command, host);
        commands.set(key, handler);
        return () => {
          if (commands.get(key) === handler) commands.delete(key);
        };
      },
      ask: (request) => answer(JSON.stringify(request)),
    });

    if (mod.server.config.data_dir === '') {
      // The in-memory test harness has no data directory: commands are still registered.
      mod.log.debug('admin socket not opened: no data_dir');
      return;
    }
    const path = join(mod.server.config.data_dir, adminSocketName(mod.server.cluster?.worker));
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      mod.log.warn({ path }, 'admin socket not opened: data_dir is too long a path for a Unix socket (canto push-trace will not work)');
      return;
    }

    const open = new Set<Socket>();
    const serve = (socket: Socket): void => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      let buffered = '';
      socket.setEncoding('utf8');
      socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
      socket.on('error', () => socket.destroy());
      const onData = (chunk: string): void => {
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline < 0) {
          if (buffered.length > MAX_REQUEST_BYTES) socket.end(`${JSON.stringify({ ok: false, error: 'request too large' })}\n`);
          return;
        }
        socket.off('data', onData);
        void answer(buffered.slice(0, newline)).then((res) => socket.end(`${JSON.stringify(res)}\n`));
      };
      socket.on('data', onData);
    };

    if (!(await removeStale(path))) {
      mod.log.warn({ path }, 'admin socket not opened: another running server answers on it');
      return;
    }
    const server = createServer(serve);
    await listenPrivately(server, path);
    mod.log.debug({ path }, 'admin socket listening');
    mod.onUnload(async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    });
  },
});

/** A socket file left by a server that died is removed; false when a live server answers on it. */
async function removeStale(path: string): Promise<boolean> {
  if (!existsSync(path)) return true;
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.on('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (live) return false;
  unlinkSync(path);
  return true;
}

/**
 * Listen with the socket file created as 0600: the umask is narrowed around listen(), which
 * binds synchronously, so there is no moment when the file has wider permissions; chmod after
 * is a second guard.
 */
async function listenPrivately(server: NetServer, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const previous = process.umask(0o177);
    try {
      // exclusive: in a node:cluster worker the worker binds the file itself (not the primary).
      server.listen({ path, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(path, 0o600);
}
