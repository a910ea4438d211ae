/**
 * Messages between the idle scenario (parent) and its generator children (./idle-child.ts)
 * over the node IPC channel (JSON serialization).
 */

/** Parent → child. */
export type ToIdleChild =
  /** Log these users in (with initial presence) and hold the connections. */
  | { type: 'login'; port: number; host?: string; localAddress?: string; domain: string; password: string; usernames: string[]; presence: boolean; deadlineMs: number; concurrency?: number }
  /** Report how many connections are still open. */
  | { type: 'count' }
  /** Close every connection and exit. */
  | { type: 'close' };

/** Child → parent. */
export type FromIdleChild =
  /** Logins done so far (throttled). */
  | { type: 'progress'; done: number }
  /** Every login succeeded. */
  | { type: 'ready'; open: number }
  /** Answer to 'count': connections still open, CPU seconds the child has used so far. */
  | { type: 'count'; open: number; cpuSeconds: number }
  /** The child failed; it exits after sending this. */
  | { type: 'error'; message: string };
