/**
 * Request bodies under a byte limit: read whole (readBody) or passed on as they arrive
 * (boundedBody). Past the limit the request is answered 413 with `Connection: close`, so that
 * node:http closes the connection instead of reading the rest of an oversized body.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { HttpError } from './http.js';

export function bodyTooLarge(): HttpError {
  return new HttpError(413, 'request body too large', { Connection: 'close' });
}

/** Whether the request's Content-Length already says more than `maxBytes`. */
export function declaresMoreThan(req: IncomingMessage, maxBytes: number): boolean {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > maxBytes;
}

/** Read a request body of at most `maxBytes`; rejects with HttpError 413 above it. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaresMoreThan(req, maxBytes)) {
      reject(bodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // Stop reading (not destroy): the 413 must still get out before the connection closes.
      req.off('data', onData);
      req.pause();
      reject(bodyTooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The body of `req` as a stream of at most `maxBytes`. Past the limit `onExceeded` runs (to
 * answer 413 right away, whatever the reader does) and the stream fails with HttpError 413.
 * A client that goes away mid-body makes the stream fail too. `onChunk` runs as each chunk passes
 * (the idle timer of the request).
 */
export function boundedBody(req: IncomingMessage, maxBytes: number, onExceeded: () => void, onChunk?: () => void): Readable {
  let size = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onChunk?.();
      size += chunk.length;
      if (size > maxBytes) {
        req.unpipe(out);
        req.pause();
        onExceeded();
        done(bodyTooLarge());
        return;
      }
      done(null, chunk);
    },
  });
  // Readers see failures through their own pipeline or iteration; this listener only keeps a
  // route that never reads its body from crashing the process when the client goes away.
  out.on('error', () => {});
  req.on('error', (err) => out.destroy(err));
  req.on('close', () => {
    if (!req.complete && !out.destroyed) out.destroy(new Error('the client went away before the body ended'));
  });
  req.pipe(out);
  return out;
}
