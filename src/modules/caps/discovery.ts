/**
 * Asking entities for the disco#info behind a (hash, ver) they announced (XEP-0115 §6.2), once
 * per (hash, ver): JIDs announcing a ver already being asked about wait for that answer. At most
 * `maxInFlight` queries are out at once (the others wait in order), at most `maxPending` vers are
 * waiting or out (more are not asked about: their JIDs' features stay unknown), each query times
 * out. An answer that does not prove the ver (§5.4) is not trusted, and another JID announcing it
 * is asked (§5.4 step 3.9), up to `maxAttempts` in all.
 *
 * The module supplies the I/O through a DiscoveryPort; this file only keeps the bookkeeping.
 */
import { randomBytes } from 'node:crypto';
import { Element } from '../../xml/element.js';
import { iq } from '../../xml/stanza.js';
import { VerRecord } from './api.js';
import { NS_DISCO_INFO, parseDiscoInfo, verify, type DiscoInfo } from './verification.js';

/** Whom to ask: the JID, the caps node it announced, and the local address the query comes from. */
export interface Target {
  to: string;
  node: string;
  from: string;
}

export type Outcome = 'verified' | 'mismatch' | 'ill-formed' | 'error' | 'timeout';

export interface DiscoveryPort {
  send(stanza: Element): void;
  setTimeout(fn: () => void, ms: number): () => void;
  /** Whom to ask for `jid` now, or undefined when that JID no longer announces `record`. */
  target(jid: string, record: VerRecord): Target | undefined;
  /** The ver is proved: `waiting` are the JIDs that announced it while it was asked about. */
  verified(record: VerRecord, waiting: ReadonlySet<string>): void;
  /** `jid`'s answer did not prove the ver (a liar, or a broken client): not trusted for it. */
  rejected(jid: string, record: VerRecord, reason: 'mismatch' | 'ill-formed', detail: string): void;
  /** Every query ended (counted per query in `outcome`). */
  outcome(result: Outcome): void;
  sent(): void;
}

export interface DiscoveryLimits {
  maxInFlight: number;
  maxPending: number;
  timeoutMs: number;
  maxAttempts: number;
}

interface Pending {
  record: VerRecord;
  /** JIDs announcing the ver, in the order they came; the first not yet tried is asked next. */
  waiting: Set<string>;
  tried: Set<string>;
  active: boolean;
}

interface Query {
  pending: Pending;
  to: string;
  cancel: () => void;
}

export class Discovery {
  private readonly pending = new Map<string, Pending>();
  /** Queries out, by iq id. */
  private readonly inflight = new Map<string, Query>();
  /** Pending vers not asked about yet (waiting for a slot), oldest first. */
  private readonly queue: Pending[] = [];

  constructor(
    private readonly port: DiscoveryPort,
    private readonly limits: DiscoveryLimits,
  ) {}

  get inFlight(): number {
    return this.inflight.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * `jid` announced (hash, ver), which is not in the cache: the shared pending record it is to
   * point at, or undefined when too many vers are pending already. Call `pump()` once the JID
   * points at it: that asks (the port's `target` checks the JID still announces the record).
   */
  want(hash: string, ver: string, jid: string): VerRecord | undefined {
    const key = new VerRecord(hash, ver).key;
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= this.limits.maxPending) return undefined;
      p = { record: new VerRecord(hash, ver), waiting: new Set(), tried: new Set(), active: false };
      this.pending.set(key, p);
      p.waiting.add(jid);
      this.queue.push(p);
      return p.record;
    }
    p.waiting.add(jid);
    return p.record;
  }

  /** `jid` no longer announces `record` (other caps, unavailable, forgotten). */
  drop(jid: string, record: VerRecord): void {
    const p = this.pending.get(record.key);
    if (p?.record === record) p.waiting.delete(jid);
  }

  /**
   * An iq result or error that reached the host or a local bare JID: true when it answers one of
   * the queries (matched by id and by the exact JID asked).
   */
  answer(stanza: Element, from: string): boolean {
    const id = stanza.attrs.id;
    if (id === undefined) return false;
    const q = this.inflight.get(id);
    if (!q || q.to !== from) return false;
    this.inflight.delete(id);
    q.cancel();
    const query = stanza.attrs.type === 'result' ? stanza.getChild('query', NS_DISCO_INFO) : undefined;
    if (!query) {
      this.finish(q, 'error');
      return true;
    }
    this.check(q, parseDiscoInfo(query));
    return true;
  }

  private check(q: Query, info: DiscoInfo): void {
    const { record } = q.pending;
    const verdict = verify(info, record.hash, record.ver);
    if (verdict.ok) {
      record.features = new Set(info.features);
      record.identities = info.identities.map((i) => ({ ...i }));
      record.state = 'verified';
      this.port.outcome('verified');
      this.close(q.pending);
      this.port.verified(record, q.pending.waiting);
      this.pump();
      return;
    }
    this.port.rejected(q.to, record, verdict.reason, verdict.detail);
    q.pending.waiting.delete(q.to);
    this.finish(q, verdict.reason);
  }

  /** A query ended without proof: ask the next JID announcing the ver, or give up. */
  private finish(q: Query, result: Exclude<Outcome, 'verified'>): void {
    this.port.outcome(result);
    const p = q.pending;
    p.active = false;
    if (p.tried.size >= this.limits.maxAttempts || !this.askNext(p)) {
      p.record.state = 'failed';
      this.close(p);
    }
    this.pump();
  }

  private close(p: Pending): void {
    if (this.pending.get(p.record.key) === p) this.pending.delete(p.record.key);
    p.active = false;
  }

  /** Start queued vers while there is room. */
  pump(): void {
    while (this.inflight.size < this.limits.maxInFlight && this.queue.length > 0) {
      const p = this.queue.shift();
      if (!p || this.pending.get(p.record.key) !== p) continue;
      if (!this.askNext(p)) {
        p.record.state = 'failed';
        this.close(p);
      }
    }
  }

  /** Ask the first waiting JID not tried yet; false when there is none. */
  private askNext(p: Pending): boolean {
    for (const jid of p.waiting) {
      if (p.tried.has(jid)) continue;
      p.tried.add(jid);
      const target = this.port.target(jid, p.record);
      if (!target) {
        p.waiting.delete(jid);
        continue;
      }
      this.ask(p, target);
      return true;
    }
    return false;
  }

  private ask(p: Pending, target: Target): void {
    // Unguessable ids: an answer is taken only with the id we sent and from the JID we asked.
    const id = `caps-${randomBytes(9).toString('base64url')}`;
    const stanza = iq({ type: 'get', id, from: target.from, to: target.to })
      .c('query', { xmlns: NS_DISCO_INFO, node: `${target.node}#${p.record.ver}` })
      .root();
    const q: Query = { pending: p, to: target.to, cancel: () => undefined };
    q.cancel = this.port.setTimeout(() => {
      if (this.inflight.get(id) !== q) return;
      this.inflight.delete(id);
      this.finish(q, 'timeout');
    }, this.limits.timeoutMs);
    this.inflight.set(id, q);
    p.active = true;
    this.port.sent();
    this.port.send(stanza);
  }
}
