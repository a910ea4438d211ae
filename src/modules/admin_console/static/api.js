// @ts-check
/**
 * Calls to the console's endpoints and the admin API. The session cookie goes by itself
 * (same origin); every state-changing call carries the session's CSRF token in X-CSRF-Token.
 */

export const API = '/admin/api/v1';

let csrfToken = '';
/** @type {() => void} */
let onLoggedOut = () => {};

/** @param {string} token */
export function setCsrfToken(token) {
  csrfToken = token;
}

/** @param {() => void} fn called when the server says the session has ended */
export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** An API path from segments, each %-encoded. @param {...string} segments */
export function apiPath(...segments) {
  return `${API}/${segments.map(encodeURIComponent).join('/')}`;
}

/**
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>} the parsed JSON answer (undefined for 204)
 */
export async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json().catch(() => undefined) : undefined;
  if (res.ok) return data;
  if (res.status === 401 && !path.endsWith('/login')) onLoggedOut();
  throw new ApiError(res.status, (data && typeof data.detail === 'string' && data.detail) || `${res.status} ${res.statusText}`);
}
