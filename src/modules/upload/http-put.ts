/**
 * PUT of a file to its slot URL, authorised by the slot's token (token.ts). Everything that can
 * be refused is refused before a byte of the body is read — a bad or expired token (403), a
 * Content-Length that is missing (411), over the slot's size (413, the connection closed so a
 * 1 GB body is never read) or not the slot's size (400), another Content-Type (415), a slot
 * already used or being used (409), a quota since exhausted (413) — and every refusal of a PUT
 * closes the connection rather than drain the body. Then the body is streamed to disk
 * (files.ts) and the file recorded; 201 Created.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { HttpError, sendText } from '../../net/http.js';
import type { RouteContext, RouteMatchContext } from '../../net/http-router.js';
import { TooFewBytes, TooManyBytes } from './files.js';
import { corsFor } from './http-common.js';
import { DEFAULT_CONTENT_TYPE, normaliseContentType } from './names.js';
import { pendingBytes, type RefusalReason, type UploadState } from './state.js';
import { bearerToken, verifyToken, type SlotClaims } from './token.js';

export interface UploadPrincipal {
  /** The owner's bare JID (for logs). */
  readonly name: string;
  readonly claims: SlotClaims;
}

export const CHALLENGE = 'Bearer realm="upload"';

function refusal(state: UploadState, req: IncomingMessage, reason: RefusalReason, status: number, message: string): HttpError {
  state.metrics.refused(reason);
  state.log.debug({ reason, status, path: req.url }, 'upload PUT refused');
  return new HttpError(status, message, { Connection: 'close', ...corsFor(state, req) });
}

/** The route's auth hook: no token is 401 (with the challenge); a token that does not hold is 403. */
export function authorise(state: UploadState) {
  return async (req: IncomingMessage, ctx: RouteMatchContext): Promise<UploadPrincipal | undefined> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) return undefined;
    const claims = verifyToken(state.secret, token);
    if (!claims || claims.id !== ctx.params.id || claims.name !== ctx.params.filename) throw refusal(state, req, 'token', 403, 'the token is not valid for this URL');
    if (claims.exp <= state.now()) throw refusal(state, req, 'expired', 403, 'the upload slot has expired; request a new one');
    return { name: claims.owner, claims };
  };
}

export function putHandler(state: UploadState) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<UploadPrincipal, Readable>): Promise<void> => {
    const { claims } = ctx.principal;
    const refuse = (reason: RefusalReason, status: number, message: string) => refusal(state, req, reason, status, message);

    const length = req.headers['content-length'];
    if (length === undefined) throw refuse('length', 411, 'Content-Length is required');
    if (!/^[0-9]{1,16}$/.test(length)) throw refuse('length', 400, 'Content-Length is not a number');
    if (Number(length) > claims.size) throw refuse('length', 413, `the slot is for ${claims.size} bytes`);
    if (Number(length) !== claims.size) throw refuse('length', 400, `the slot is for ${claims.size} bytes`);
    const type = normaliseContentType(req.headers['content-type'] ?? DEFAULT_CONTENT_TYPE);
    if (type !== claims.type) throw refuse('type_mismatch', 415, `the slot is for content of type ${claims.type}`);

    // Claimed before the first await, so two PUTs of one slot cannot both pass the checks.
    if (state.inProgress.has(claims.id)) throw refuse('conflict', 409, 'this slot is being uploaded');
    state.inProgress.set(claims.id, { owner: claims.owner, size: claims.size });
    try {
      if ((await state.records.get(claims.id)) !== undefined) throw refuse('conflict', 409, 'this slot was used already');
      // Quota again: slots handed out together could otherwise all be filled past it.
      const usage = await state.records.usage(claims.owner, state.now());
      const pending = pendingBytes(state, claims.owner, claims.id);
      if (usage.stored + pending + claims.size > state.options.quota) throw refuse('quota', 413, 'quota reached');
      if (usage.today + pending + claims.size > state.options.daily_quota) throw refuse('daily_quota', 413, 'daily quota reached');

      let received;
      try {
        received = await state.dir.receive(claims.id, ctx.body, claims.size, (n) => state.metrics.uploaded(n));
      } catch (err) {
        if (err instanceof HttpError) throw err; // the HTTP server's own limit (413)
        if (err instanceof TooManyBytes || err instanceof TooFewBytes) throw refuse('length', 400, err.message);
        // The client went away (or the request timed out): nothing to answer.
        state.metrics.refused('aborted');
        state.log.info({ owner: claims.owner, id: claims.id, err: (err as Error).message }, 'upload aborted; nothing kept');
        res.destroy();
        return;
      }
      const now = state.now();
      try {
        await state.records.add({ id: claims.id, owner: claims.owner, when: now, name: claims.name, size: claims.size, type: claims.type });
      } catch (err) {
        await received.drop();
        throw err;
      }
      try {
        await received.commit();
      } catch (err) {
        await state.records.remove([claims.id]).catch(() => 0);
        await received.drop();
        throw err;
      }
      state.metrics.stored();
      state.log.info({ owner: claims.owner, id: claims.id, size: claims.size, type: claims.type, expires: new Date(now + state.options.expire_after).toISOString() }, 'file uploaded');
      sendText(res, 201, 'stored\n', undefined, corsFor(state, req));
    } finally {
      state.inProgress.delete(claims.id);
    }
  };
}
