/**
 * The admin socket's wire format, shared by the server side (index.ts) and the `canto`
 * command: one JSON request line from the client, one JSON answer line from the server, then
 * the server closes. Unix sockets only, in data_dir, mode 0600: whoever may read the server's
 * data may ask; nobody else can connect.
 */
import { connect } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface AdminRequest {
  command: string;
  /** The virtual host the command is about (host modules register per host). */
  host?: string;
  args?: Record<string, unknown>;
}

export type AdminResponse = { ok: true; result: unknown } | { ok: false; error: string };

/** Requests larger than this are refused (they are one short JSON line). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * `admin.sock`, or `admin-<n>.sock` for cluster worker n (each worker has its own modules and
 * state), or `admin-<node_id>.sock` for a Redis cluster node (nodes may share one data_dir).
 */
export function adminSocketName(worker?: number | string): string {
  return worker === undefined ? 'admin.sock' : `admin-${worker}.sock`;
}

const SOCKET_NAME = /^admin(-[A-Za-z0-9._-]+)?\.sock$/;

/** The admin sockets in `dataDir` (one, or one per cluster worker), sorted. */
export function findAdminSockets(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return [];
  }
  return names.filter((n) => SOCKET_NAME.test(n)).sort().map((n) => join(dataDir, n));
}

/** Send one request to the socket at `path` and read the answer. */
export function askAdmin(path: string, request: AdminRequest, timeoutMs = 10_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as AdminResponse);
      } catch {
        reject(new Error(`unreadable answer from ${path}`));
      }
    });
  });
}
