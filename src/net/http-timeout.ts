/**
 * The time a request's body may take, per request. node:http's own `requestTimeout` is one
 * total for the whole server, which cuts a long upload that is still progressing; Canto turns it
 * off and keeps this timer instead. By default the body must be whole within `totalMs` of the
 * headers (`[modules.http] request_timeout`); a streaming route may ask for an idle limit instead
 * (`idleTimeoutMs`): then the body may take as long as it likes while no gap between two chunks
 * is longer than the limit. On expiry `onExpired` runs once. One timer per request with a body;
 * a request without a body (no Content-Length, no Transfer-Encoding) gets none.
 */
import type { IncomingMessage } from 'node:http';

export class BodyTimer {
  private timer: NodeJS.Timeout | undefined;
  private idleMs: number | undefined;

  constructor(totalMs: number, private readonly onExpired: () => void) {
    this.timer = setTimeout(() => this.expire(), totalMs).unref();
  }

  /** From now on, time the gaps between chunks (`touch`) rather than the whole body. */
  timeIdle(ms: number): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.idleMs = ms;
    this.timer = setTimeout(() => this.expire(), ms).unref();
  }

  /** A chunk arrived: an idle limit starts again (no allocation: the timer is refreshed). */
  touch(): void {
    if (this.idleMs !== undefined) this.timer?.refresh();
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    if (this.timer === undefined) return;
    this.timer = undefined;
    this.onExpired();
  }
}

/** Whether the request has a body at all (RFC 9112 §6.3: only Content-Length or Transfer-Encoding announce one). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
