/**
 * RFC 9457 problem details: every error the admin API answers is `application/problem+json`
 * with `type`, `title`, `status` and `detail`. The `type` URIs are relative references to
 * docs/admin-api.md's list of problems (RFC 9457 §3.1.1 allows relative URIs).
 */
import type { ServerResponse } from 'node:http';

export const PROBLEM_TYPES = {
  'bad-request': 'The request is malformed: unreadable JSON, unknown fields, a value of the wrong shape.',
  'unauthorized': 'No token, or a token that is unknown, revoked or expired.',
  'forbidden': 'The token is valid but lacks the scope this endpoint needs, or the address is not allowed.',
  'not-found': 'No such endpoint, host, account, room, invite or session.',
  'method-not-allowed': 'The endpoint exists; the method does not.',
  'conflict': 'The thing to create exists, or the change would break an invariant (a room\'s last owner).',
  'unsupported-media-type': 'A body that is not application/json.',
  'too-large': 'A body larger than the API takes (max_body_size).',
  'too-many-requests': 'The token or the address used its request budget; retry after Retry-After seconds.',
  'unavailable': 'The module this endpoint needs is not loaded on that host.',
  'internal': 'The server failed; the log has the details.',
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;

const TITLES: Record<ProblemType, string> = {
  'bad-request': 'Bad request',
  'unauthorized': 'Unauthorized',
  'forbidden': 'Forbidden',
  'not-found': 'Not found',
  'method-not-allowed': 'Method not allowed',
  'conflict': 'Conflict',
  'unsupported-media-type': 'Unsupported media type',
  'too-large': 'Content too large',
  'too-many-requests': 'Too many requests',
  'unavailable': 'Service unavailable',
  'internal': 'Internal server error',
};

const STATUS: Record<ProblemType, number> = {
  'bad-request': 400, 'unauthorized': 401, 'forbidden': 403, 'not-found': 404, 'method-not-allowed': 405,
  'conflict': 409, 'too-large': 413, 'unsupported-media-type': 415, 'too-many-requests': 429, 'unavailable': 503, 'internal': 500,
};

/** Thrown by handlers; the dispatcher answers it as a problem. */
export class Problem extends Error {
  readonly status: number;
  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    /** Machine-readable extras (RFC 9457 §3.2), e.g. the failing fields. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.status = STATUS[type];
  }
}

export function problemBody(p: Problem): Record<string, unknown> {
  return { type: `/docs/admin-api.md#${p.type}`, title: TITLES[p.type], status: p.status, detail: p.detail, ...p.extra };
}

const COMMON_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export function sendProblem(res: ServerResponse, p: Problem): void {
  const bytes = Buffer.from(JSON.stringify(problemBody(p)), 'utf8');
  res.writeHead(p.status, { ...COMMON_HEADERS, 'Content-Type': 'application/problem+json', 'Content-Length': String(bytes.length), ...p.headers });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204 || body === undefined) {
    res.writeHead(204, COMMON_HEADERS);
    res.end();
    return;
  }
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}
