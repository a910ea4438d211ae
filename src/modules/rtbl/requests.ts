/**
 * Iq requests the host sends (to a list's pubsub service) and their answers: each request gets
 * an id, the answer (a result or an error from the address it was sent to) settles it, a
 * timeout rejects it. The answers arrive as `iq/host` stanzas; `answer` claims those that are
 * ours.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { Element } from '../../xml/element.js';

/** The request was answered with an iq error. */
export class IqErrorAnswer extends Error {
  constructor(readonly condition: string, readonly stanza: Element) {
    super(`answered with ${condition}`);
  }
}

interface Pending {
  to: string;
  resolve(result: Element): void;
  reject(err: Error): void;
  cancelTimer(): void;
}

export class IqRequests {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  constructor(
    private readonly mod: ModuleApi,
    private readonly timeoutMs: number,
  ) {}

  /** Send an iq get/set from the host; resolves with the result iq, rejects on error or timeout. */
  send(stanza: Element): Promise<Element> {
    const id = `rtbl-${Date.now().toString(36)}-${++this.counter}`;
    stanza.attrs.id = id;
    const to = stanza.attrs.to ?? '';
    return new Promise<Element>((resolve, reject) => {
      const cancelTimer = this.mod.setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from ${to} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { to, resolve, reject, cancelTimer });
      this.mod.send(stanza);
    });
  }

  /** An iq result or error to the host: true when it answered one of our requests. */
  answer(stanza: Element, from: string): boolean {
    const type = stanza.attrs.type;
    if (type !== 'result' && type !== 'error') return false;
    const id = stanza.attrs.id;
    const p = id === undefined ? undefined : this.pending.get(id);
    // Only the address asked may answer (RFC 6120 §8.1.2.1); the router made 'from' trustworthy.
    if (!p || id === undefined || p.to !== from) return false;
    this.pending.delete(id);
    p.cancelTimer();
    if (type === 'result') p.resolve(stanza);
    else p.reject(new IqErrorAnswer(errorCondition(stanza), stanza));
    return true;
  }

  /** Reject what is still waiting (at unload). */
  cancelAll(): void {
    for (const p of this.pending.values()) {
      p.cancelTimer();
      p.reject(new Error('the module is unloading'));
    }
    this.pending.clear();
  }
}

/** The defined condition of an iq error (the first child of <error/> that is not <text/>). */
function errorCondition(stanza: Element): string {
  const error = stanza.getChild('error');
  const cond = error?.getChildren(undefined, 'urn:ietf:params:xml:ns:xmpp-stanzas').find((c) => c.name !== 'text');
  return cond?.name ?? 'undefined-condition';
}
