/** Stream management state of one bound client session (from `<enable/>` until it ends). */
import type { BoundC2SSession } from '../../core/session.js';
import { UnackedQueue } from './queue.js';

export interface SmState {
  readonly session: BoundC2SSession;
  readonly queue: UnackedQueue;
  /** Stanzas received from the client since enable, modulo 2^32: the 'h' we acknowledge. */
  inbound: number;
  /** Resumption id; undefined when the client did not ask for resumption. */
  readonly id: string | undefined;
  /** This session's resumption window (ms): the configured one, or the client's smaller 'max'. */
  readonly windowMs: number;
  /** Stanzas sent since our last `<r/>`. */
  sinceRequest: number;
  /** Our `<r/>` is unanswered. */
  requestPending: boolean;
  /** When the pending `<r/>` was sent (server clock). */
  requestSentAt: number | undefined;
  /** The pending `<r/>` went unanswered past `max_ack_delay` (`smacks/ack-delayed` fired for it). */
  ackDelayed: boolean;
  /** When to send an `<r/>` for stanzas still unacknowledged (server clock), if any. */
  requestAt: number | undefined;
  /** When a hibernating session expires (server clock). */
  expiresAt: number | undefined;
  /** The queue went past max_unacked: the session is being ended. */
  overflowed: boolean;
  ended: boolean;
  removeFilters(): void;
}

export function newState(session: BoundC2SSession, id: string | undefined, windowMs: number): SmState {
  return {
    session,
    queue: new UnackedQueue(),
    inbound: 0,
    id,
    windowMs,
    sinceRequest: 0,
    requestPending: false,
    requestSentAt: undefined,
    ackDelayed: false,
    requestAt: undefined,
    expiresAt: undefined,
    overflowed: false,
    ended: false,
    removeFilters: () => {},
  };
}
