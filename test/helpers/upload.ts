/**
 * HTTP File Upload (XEP-0363) in tests: HTTPS requests to the test server's upload URLs (which
 * name `localhost`: connected at 127.0.0.1 with SNI localhost, the server's self-signed
 * certificate trusted explicitly as the only CA), a raw TLS client for what well-behaved clients
 * never send (lying Content-Length, cut uploads, huge headers), and reading the upload folder.
 */
import { readdirSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import type { Server } from '../../src/core/server.js';

export const UPLOAD = 'upload.localhost';
export const NS_UPLOAD = 'urn:xmpp:http:upload:0';

export function serverCa(server: Server): string {
  const pem = server.tls.forDomain('localhost')?.certificatePem;
  if (!pem) throw new Error('the test server has no certificate for localhost');
  return pem;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request to `url` (its host resolved to 127.0.0.1, its name checked against `ca`). */
export function https(ca: string, url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers: { Host: u.host, ...opts.headers },
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A TLS connection to the URL's port for hand-written requests; `response()` resolves with everything the server sent until it closed or `untilHeaders`. */
export async function rawTls(ca: string, url: string): Promise<{ socket: TLSSocket; received(): string; response(untilHeaders?: boolean): Promise<string> }> {
  const u = new URL(url);
  const socket = connect({ host: '127.0.0.1', port: Number(u.port), servername: u.hostname, ca });
  socket.on('error', () => {}); // the server may reset a refused upload
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  let text = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    text += d;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('close', () => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    socket,
    received: () => text,
    response: (untilHeaders = false) =>
      new Promise<string>((resolve) => {
        const check = () => {
          if ((untilHeaders && text.includes('\r\n\r\n')) || socket.destroyed || socket.readableEnded) resolve(text);
          else waiters.push(check);
        };
        check();
      }),
  };
}

/** The status code of a raw HTTP response. */
export function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

/** What is in the upload folders of the component: complete files and uploads in progress. */
export function uploadDirs(dataDir: string, domain = UPLOAD): { files: string[]; tmp: string[] } {
  const root = join(dataDir, 'upload', domain);
  const list = (d: string) => {
    try {
      return readdirSync(join(root, d));
    } catch {
      return [];
    }
  };
  return { files: list('files'), tmp: list('tmp') };
}

/** `Bearer <token>` with the token's payload changed by `edit` (the signature kept): a forgery. */
export function tamper(authorization: string, edit: (claims: Record<string, unknown>) => void): string {
  const token = authorization.replace(/^Bearer /, '');
  const [payload = '', sig = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(claims);
  return `Bearer ${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
}
