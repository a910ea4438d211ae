/**
 * Sends one notification to an app server and waits for its answer: the iq goes out from the
 * user's bare JID (XEP-0357 §7), so the answer comes back to that JID; the module hooks
 * `iq/bare` and hands results and errors to `answer()`, matched by id and by the app server's
 * address (another entity cannot answer for it). No answer within `timeoutMs` is a timeout.
 */
import { randomBytes } from 'node:crypto';
import type { Element } from '../../xml/element.js';

export type Outcome =
  | { ok: true; latencyMs: number }
  | { ok: false; answer: string; kind: 'error' | 'timeout'; latencyMs: number };

interface Pending {
  from: string;
  started: number;
  settle(outcome: Outcome): void;
}

export class Publisher {
  private readonly pending = new Map<string, Pending>();

  constructor(
    /** Time and one-shot timers (the module's sweep: deadlines.ts). */
    private readonly clock: { now(): number; after(ms: number, fn: () => void): () => void },
    private readonly send: (stanza: Element) => void,
    private readonly timeoutMs: number,
  ) {}

  /** A fresh iq id (unguessable: an answer must not be forgeable by someone who cannot see the iq). */
  newId(): string {
    return `push-${randomBytes(9).toString('base64url')}`;
  }

  /** Send `stanza` (an iq with id `id`) to `appServer`; resolves with the answer or a timeout. */
  publish(id: string, appServer: string, stanza: Element): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const started = this.clock.now();
      let cancelTimer = (): void => {};
      const settle = (outcome: Outcome): void => {
        if (!this.pending.delete(id)) return;
        cancelTimer();
        resolve(outcome);
      };
      this.pending.set(id, { from: appServer, started, settle });
      cancelTimer = this.clock.after(this.timeoutMs, () => settle({ ok: false, kind: 'timeout', answer: 'timeout', latencyMs: this.clock.now() - started }));
      this.send(stanza);
    });
  }

  /** An iq result or error to a user's bare JID: true when it answers one of our notifications. */
  answer(stanza: Element, from: string): boolean {
    const id = stanza.attrs.id;
    if (id === undefined) return false;
    const p = this.pending.get(id);
    if (p === undefined || p.from !== from) return false;
    const latencyMs = this.clock.now() - p.started;
    if (stanza.attrs.type === 'result') p.settle({ ok: true, latencyMs });
    else p.settle({ ok: false, kind: 'error', answer: `error ${describeError(stanza)}`, latencyMs });
    return true;
  }

  /** Settle everything still waiting (unload): as timeouts that do not count (the caller checks `stopped`). */
  stop(): void {
    for (const [, p] of [...this.pending]) p.settle({ ok: false, kind: 'timeout', answer: 'stopped', latencyMs: 0 });
  }

  get waiting(): number {
    return this.pending.size;
  }
}

/** "cancel/item-not-found" from an error stanza ("unknown" when it has no condition). */
function describeError(stanza: Element): string {
  const error = stanza.getChild('error');
  const condition = error?.elements.find((c) => c.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text');
  return `${error?.attrs.type ?? 'unknown'}/${condition?.name ?? 'unknown'}`;
}
