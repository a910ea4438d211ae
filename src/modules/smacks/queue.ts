/**
 * The stanzas sent to a client since it enabled stream management and not yet acknowledged.
 * `sent` counts every stanza pushed (modulo 2^32), `acked` is the client's last 'h'; the queue
 * always holds exactly the `sent - acked` newest stanzas, so an 'h' names a prefix to drop.
 */
import type { Element } from '../../xml/element.js';
import { addH, diffH } from './counter.js';

export interface Queued {
  stanza: Element;
  /** When it was sent (server clock, ms): the XEP-0203 stamp if it has to be re-routed. */
  at: number;
  /** Its approximate serialized size, counted in {@link UnackedQueue.bytes}. */
  size: number;
}

export type AckResult = { ok: true; dropped: number } | { ok: false; sent: number };

export class UnackedQueue {
  private items: Queued[] = [];
  private sentCount = 0;
  private ackedCount = 0;
  private queuedBytes = 0;

  /** About how many bytes the unacknowledged stanzas take when written. */
  get bytes(): number {
    return this.queuedBytes;
  }

  get length(): number {
    return this.items.length;
  }

  /** Stanzas sent since enable, modulo 2^32. */
  get sent(): number {
    return this.sentCount;
  }

  /** The client's last acknowledged count. */
  get acked(): number {
    return this.ackedCount;
  }

  push(stanza: Element, at: number, size: number): void {
    this.items.push({ stanza, at, size });
    this.queuedBytes += size;
    this.sentCount = addH(this.sentCount);
  }

  /**
   * Whether `h` is a count the client can have handled: between the last ack and what was sent.
   * An 'h' behind the last ack is as wrong as one ahead of `sent` (modulo arithmetic cannot tell
   * them apart): both exceed the unacked count.
   */
  valid(h: number): boolean {
    return diffH(h, this.ackedCount) <= this.items.length;
  }

  /** The client handled `h` stanzas in all: drop those from the front. */
  ack(h: number): AckResult {
    if (!this.valid(h)) return { ok: false, sent: this.sentCount };
    const n = diffH(h, this.ackedCount);
    if (n > 0) for (const dropped of this.items.splice(0, n)) this.queuedBytes -= dropped.size;
    this.ackedCount = h;
    return { ok: true, dropped: n };
  }

  /** The unacknowledged stanzas, oldest first (the queue keeps them). */
  unacked(): readonly Queued[] {
    return this.items;
  }

  /**
   * Continue a queue shipped from another node (a session resumed there): the client
   * acknowledged `acked`, and `items` followed it, oldest first.
   */
  restore(acked: number, items: Queued[]): void {
    this.items = items;
    this.queuedBytes = items.reduce((n, q) => n + q.size, 0);
    this.ackedCount = acked;
    this.sentCount = addH(acked, items.length);
  }

  /** Take every unacknowledged stanza out (the session ended). */
  drain(): Queued[] {
    const all = this.items;
    this.items = [];
    this.queuedBytes = 0;
    this.ackedCount = this.sentCount;
    return all;
  }
}
