/**
 * GET and HEAD of an uploaded file: its Content-Type, a Content-Disposition (inline for pictures,
 * sound and video, else attachment, with the file name), Content-Length, one byte range (206,
 * 416), validators for caches (a strong ETag, Last-Modified, If-None-Match, If-Modified-Since,
 * If-Range) and Cache-Control `immutable` until the file expires — a slot URL never names other
 * bytes —, CORS, and the headers that keep HTML or SVG from running (http-common.ts). The file
 * is streamed from disk.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { HttpError } from '../../net/http.js';
import type { RouteContext } from '../../net/http-router.js';
import { isSlotId } from './files.js';
import { corsFor, SAFE_CONTENT_HEADERS } from './http-common.js';
import { contentDisposition, dispositionType } from './names.js';
import { parseRange } from './ranges.js';
import type { UploadState } from './state.js';

/** Bytes per file read when serving (bounded: a download holds at most about two of these in memory). */
const READ_CHUNK = 256 * 1024;

export function getHandler(state: UploadState) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): Promise<void> => {
    const notFound = () => new HttpError(404, 'no such file', corsFor(state, req));
    const { id = '', filename } = ctx.params;
    if (!isSlotId(id)) throw notFound();
    const file = await state.records.get(id);
    const now = state.now();
    const expires = file ? file.when + state.options.expire_after : 0;
    // Past its time a file is gone, even before the next clean-up removes it.
    if (!file || file.name !== filename || expires <= now) throw notFound();
    let handle;
    try {
      handle = await open(state.dir.pathOf(id), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound();
      throw err;
    }
    try {
      const size = (await handle.stat()).size;
      const etag = `"${id}"`;
      const lastModified = new Date(file.when).toUTCString();
      const headers: Record<string, string> = {
        ...SAFE_CONTENT_HEADERS,
        ...corsFor(state, req),
        'Content-Type': file.type,
        'Content-Disposition': contentDisposition(dispositionType(file.type), file.name),
        'Accept-Ranges': 'bytes',
        ETag: etag,
        'Last-Modified': lastModified,
        'Cache-Control': `public, max-age=${Math.max(0, Math.floor((expires - now) / 1000))}, immutable`,
      };
      if (notModified(req, etag, file.when)) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      // If-Range: the range only holds for this very file (its ETag or date); else the whole file.
      const ifRange = req.headers['if-range'];
      const rangeApplies = ifRange === undefined || ifRange === etag || ifRange === lastModified;
      const range = parseRange(rangeApplies ? req.headers.range : undefined, size);
      if (range.kind === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
        res.end();
        return;
      }
      const [start, end] = range.kind === 'range' ? [range.start, range.end] : [0, size - 1];
      const length = size === 0 ? 0 : end - start + 1;
      headers['Content-Length'] = String(length);
      if (range.kind === 'range') headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(range.kind === 'range' ? 206 : 200, headers);
      if (req.method === 'HEAD' || length === 0) {
        res.end();
        return;
      }
      // The numeric fd: node:fs's callback reads cost less per chunk than the FileHandle's promise
      // reads; 256 KiB chunks (four times the default) make a quarter of the reads for the same bytes.
      const stream = createReadStream('', { fd: handle.fd, start, end, autoClose: false, highWaterMark: READ_CHUNK });
      stream.on('data', (chunk: string | Buffer) => state.metrics.served(chunk.length)); // no encoding set: Buffers
      try {
        await pipeline(stream, res);
      } catch {
        // The client went away mid-download: nothing to answer (pipeline destroyed the response).
      }
    } finally {
      await handle.close();
    }
  };
}

/** If-None-Match (preferred) or If-Modified-Since say the client's copy is this one (RFC 9110 §13). */
function notModified(req: IncomingMessage, etag: string, when: number): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*');
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && Math.floor(when / 1000) * 1000 <= since;
}
