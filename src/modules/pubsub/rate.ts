/**
 * The notification rate limit (issue 14, "limits and abuse"): requests that make a service send
 * notifications to others (publish, retract, purge, delete) are counted per key — the account
 * for PEP, the requester's bare JID for the standalone service — in token buckets; past the
 * limit the request is refused with `resource-constraint` (type wait) before it does anything.
 * Reads and subscriptions are not counted: they notify nobody but the requester.
 */
import { z } from 'zod';
import { stanzaError } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { RateLimiter } from '../../util/rate-limiter.js';
import { parsePubsubRequest, type PubsubOp } from './protocol/parse.js';

/** Options shared by `[modules.pubsub]` and `[modules.pep]`. */
export const publishRateOptions = {
  /** Notifying requests (publish, retract, purge, delete) per second a key may sustain… */
  publish_rate: z.number().positive().default(10),
  /** …and how many it may make at once after a quiet spell. */
  publish_burst: z.number().int().min(1).default(200),
};

const NOTIFYING: ReadonlySet<PubsubOp> = new Set<PubsubOp>(['publish', 'retract', 'purge', 'delete']);

/** The operation of a pubsub iq, or undefined when it does not parse (the engine answers that). */
export function requestOp(event: StanzaEvent): PubsubOp | undefined {
  const type = event.stanza.attrs.type;
  const payload = event.stanza.elements[0];
  if (!payload || (type !== 'get' && type !== 'set')) return undefined;
  try {
    return parsePubsubRequest(type, payload).op;
  } catch {
    return undefined;
  }
}

export class PublishRateGate {
  private limiter: RateLimiter;

  constructor(
    private readonly options: { publish_rate: number; publish_burst: number },
    private readonly now: () => number,
  ) {
    this.limiter = this.fresh();
  }

  private fresh(): RateLimiter {
    return new RateLimiter({ rate: this.options.publish_rate, burst: this.options.publish_burst }, this.now);
  }

  /** Forget every bucket (a cluster node that takes or gives up the service starts afresh). */
  reset(): void {
    this.limiter = this.fresh();
  }

  /**
   * Answers the request with `resource-constraint` and returns true when `key` is over its rate
   * for a notifying operation; otherwise spends a token (for notifying operations) and returns false.
   */
  refuse(event: StanzaEvent, op: PubsubOp | undefined, key: string): boolean {
    if (op === undefined || !NOTIFYING.has(op) || this.limiter.take(key)) return false;
    event.origin.send(stanzaError('CANTO_ERR_PUBSUB_RATE_LIMITED').replyTo(event.stanza));
    return true;
  }
}
