/**
 * What the caps module knows, fed by presence: which full JIDs are available, the caps each
 * announced, which local users received it, and the verified features per (hash, ver) in a
 * bounded LRU shared by every user of the host. The module (index.ts) turns stanzas into the
 * calls below; the service answers from here.
 */
import type { Element } from '../../xml/element.js';
import { VerRecord, verKey, type AnnouncedCaps } from './api.js';
import { Discovery, type DiscoveryLimits, type Outcome, type Target } from './discovery.js';
import { JidTable, type JidEntry } from './jid-table.js';
import { Lru } from './lru.js';
import { isSupportedHash, type CapsIdentity } from './verification.js';

export interface TrackerLimits extends DiscoveryLimits {
  cacheSize: number;
  maxJids: number;
  maxWatchers: number;
}

/** Why caps in a presence were not looked at (a metric label: a small fixed set). */
export type SkipReason = 'legacy' | 'unsupported_hash' | 'malformed' | 'busy';

export interface TrackerPort {
  host: string;
  send(stanza: Element): void;
  setTimeout(fn: () => void, ms: number): () => void;
  featuresKnown(jid: string, username: string, features: ReadonlySet<string>): void;
  forgotten(jid: string): void;
  debug(obj: object, msg: string): void;
  count: {
    sent(): void;
    outcome(result: Outcome): void;
    skipped(reason: SkipReason): void;
    cacheHit(): void;
    evicted(n: number): void;
  };
}

/** XEP-0115 'ver' values are base64 hashes (88 characters for sha-512); nodes are URIs. */
const MAX_VER_LENGTH = 128;
const MAX_NODE_LENGTH = 1024;

export class CapsTracker {
  readonly cache: Lru<string, VerRecord>;
  readonly table: JidTable;
  readonly discovery: Discovery;

  constructor(
    private readonly port: TrackerPort,
    limits: TrackerLimits,
  ) {
    this.cache = new Lru(limits.cacheSize);
    this.table = new JidTable(limits.maxJids, limits.maxWatchers, (entry) => this.onForgotten(entry));
    this.discovery = new Discovery(
      {
        send: (s) => port.send(s),
        setTimeout: (fn, ms) => port.setTimeout(fn, ms),
        target: (jid, record) => this.target(jid, record),
        verified: (record, waiting) => this.onVerified(record, waiting),
        rejected: (jid, record, reason, detail) => this.onRejected(jid, record, reason, detail),
        outcome: (result) => port.count.outcome(result),
        sent: () => port.count.sent(),
      },
      limits,
    );
  }

  // ───────────────────────── presence ─────────────────────────

  /** `jid` is available to the local user `username`, with the caps element of its presence (if any). */
  available(jid: string, bare: string, username: string, c: Element | undefined): void {
    // A JID that never announced caps has no features to offer (no +notify): not tracked, so
    // presence without caps costs no memory (the presence fan-out and idle benchmarks send none).
    if (c === undefined && this.table.get(jid) === undefined) return;
    const entry = this.table.touch(jid, bare);
    const isNew = !entry.watchers.has(username);
    const told = entry.watchers.get(username);
    // Watch first: a disco query for new caps goes out from a watcher's address.
    const watching = this.table.watch(entry, username, told);
    if (c) this.announce(entry, c);
    if (!watching) return;
    const record = entry.record;
    entry.watchers.set(username, record);
    if ((isNew || told !== record) && record?.state === 'verified' && record.features) {
      this.port.featuresKnown(jid, username, record.features);
    }
  }

  /** `jid` sent `username` unavailable presence: forgotten once no local user sees it. */
  unavailable(jid: string, username: string): void {
    const entry = this.table.get(jid);
    if (!entry) return;
    entry.watchers.delete(username);
    if (entry.watchers.size === 0) this.table.forget(jid);
  }

  /** A local resource went unavailable or its session ended: it is gone for everyone. */
  gone(jid: string): void {
    this.table.forget(jid);
  }

  /** An iq result/error to a local bare JID: true when it answered one of our disco#info queries. */
  answer(stanza: Element, from: string): boolean {
    return this.discovery.answer(stanza, from);
  }

  private announce(entry: JidEntry, c: Element): void {
    const { hash, ver, node } = c.attrs;
    const reason = hash === undefined ? 'legacy'
      : ver === undefined || node === undefined || ver === '' || ver.length > MAX_VER_LENGTH || node.length > MAX_NODE_LENGTH ? 'malformed'
        : !isSupportedHash(hash) ? 'unsupported_hash' : undefined;
    if (reason !== undefined || hash === undefined || ver === undefined || node === undefined) {
      // Legacy caps (no 'hash', XEP-0115 §8 "Legacy Format") cannot be verified: ignored, as
      // §8 says for implementations without legacy support; the JID's features are unknown.
      this.setRecord(entry, undefined);
      this.port.count.skipped(reason ?? 'malformed');
      return;
    }
    entry.node = this.table.intern(node);
    const current = entry.record;
    // The same caps again (most presence changes): nothing to do. A rejected ver stays rejected
    // for this JID (one query per JID and ver); a failed one (nobody answered) is tried again.
    if (current && current.hash === hash && current.ver === ver && current.state !== 'failed') return;
    const cached = this.cache.get(verKey(hash, ver));
    if (cached) {
      this.port.count.cacheHit();
      this.setRecord(entry, cached);
      return;
    }
    const record = this.discovery.want(hash, ver, entry.jid);
    if (!record) this.port.count.skipped('busy');
    this.setRecord(entry, record);
    this.discovery.pump();
  }

  private setRecord(entry: JidEntry, record: VerRecord | undefined): void {
    if (entry.record && entry.record !== record) this.discovery.drop(entry.jid, entry.record);
    entry.record = record;
  }

  // ───────────────────────── discovery callbacks ─────────────────────────

  private target(jid: string, record: VerRecord): Target | undefined {
    const entry = this.table.get(jid);
    if (!entry || entry.record !== record || entry.node === undefined) return undefined;
    // From the account that received the presence (its own account for a user's resource): the
    // entity shares presence with it, so its server and client answer, where a query from the
    // domain would be a stranger's (Prosody's mod_pep does the same).
    const own = entry.bare.endsWith(`@${this.port.host}`) ? entry.bare.slice(0, -this.port.host.length - 1) : undefined;
    const username = own !== undefined && entry.watchers.has(own) ? own : entry.watchers.keys().next().value;
    if (username === undefined) return undefined;
    return { to: jid, node: entry.node, from: `${username}@${this.port.host}` };
  }

  private onVerified(record: VerRecord, waiting: ReadonlySet<string>): void {
    const evicted = this.cache.set(record.key, record);
    if (evicted.length > 0) this.port.count.evicted(evicted.length);
    const features = record.features;
    if (!features) return;
    for (const jid of waiting) {
      const entry = this.table.get(jid);
      if (entry?.record !== record) continue;
      for (const [username, told] of entry.watchers) {
        if (told === record) this.port.featuresKnown(jid, username, features);
      }
    }
  }

  private onRejected(jid: string, record: VerRecord, reason: string, detail: string): void {
    this.port.debug({ jid, hash: record.hash, ver: record.ver, reason, detail }, 'caps not trusted: the disco#info does not match the ver');
    const entry = this.table.get(jid);
    if (entry?.record !== record) return;
    // A marker of this JID's own, so the shared record (another JID may still prove it) is untouched.
    const marker = new VerRecord(record.hash, record.ver);
    marker.state = 'rejected';
    entry.record = marker;
  }

  private onForgotten(entry: JidEntry): void {
    if (entry.record) this.discovery.drop(entry.jid, entry.record);
    this.port.forgotten(entry.jid);
  }

  // ───────────────────────── queries (the service) ─────────────────────────

  featuresOf(jid: string): ReadonlySet<string> | undefined {
    const record = this.table.get(jid)?.record;
    return record?.state === 'verified' ? record.features : undefined;
  }

  identitiesOf(jid: string): readonly CapsIdentity[] | undefined {
    const record = this.table.get(jid)?.record;
    return record?.state === 'verified' ? record.identities : undefined;
  }

  announced(jid: string): AnnouncedCaps | undefined {
    const entry = this.table.get(jid);
    const record = entry?.record;
    if (!entry || !record) return undefined;
    return { hash: record.hash, ver: record.ver, node: entry.node ?? '', state: record.state };
  }

  resourcesOf(bare: string, seenBy?: string): string[] {
    const out: string[] = [];
    for (const entry of this.table.resourcesOf(bare)) {
      if (seenBy === undefined || entry.watchers.has(seenBy)) out.push(entry.jid);
    }
    return out;
  }
}
