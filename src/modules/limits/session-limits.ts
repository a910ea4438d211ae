/**
 * Per-connection read limits: a ReadThrottle as the read gate of every client and server
 * connection that can pause reading (TCP/TLS), spending its own buckets and its address's shared ones. Throttles
 * are found by connection, so a session resumed on a new connection (XEP-0198) is limited by
 * that connection's buckets. An address's shared buckets live as long as one of its
 * connections does (weak references, swept periodically). In a Redis cluster they are
 * SharedDebtBuckets, settled against Redis in batches (shared-bucket.ts), so that connections
 * from one address to different nodes share one budget.
 */
import type { Connection, StreamSession } from '../../core/session.js';
import { DebtBucket, type SpendingBucket } from './debt-bucket.js';
import type { LimitsOptions } from './options.js';
import { ReadThrottle } from './read-throttle.js';
import { SharedDebtBucket, type SpendStore } from './shared-bucket.js';

export type StreamKind = 'c2s' | 's2s';

type StreamLimitOptions = LimitsOptions['c2s'];

interface AddressBuckets {
  stanzas: SpendingBucket;
  bytes: SpendingBucket;
}

export interface SessionLimitsHooks {
  now(): number;
  setTimeout(fn: () => void, ms: number): () => void;
  /** A connection's reads were paused (first is true on its first pause). */
  paused(kind: StreamKind, session: StreamSession, waitMs: number, first: boolean): void;
  /** Where the per-address buckets are shared with other nodes (Redis); none: in this process. */
  shared?: SpendStore;
}

export function streamKind(session: StreamSession): StreamKind | undefined {
  if (session.type === 'c2s' || session.type === 'c2s_unauthed') return 'c2s';
  if (session.type === 's2s' || session.type === 's2s_unauthed') return 's2s';
  return undefined;
}

export class SessionLimits {
  private readonly throttles = new WeakMap<Connection, ReadThrottle>();
  /** Removes a connection's gate. */
  private readonly ungate = new WeakMap<Connection, () => void>();
  private readonly addresses = new Map<string, WeakRef<AddressBuckets>>();
  /** Connections whose reads are paused now, by kind. */
  readonly pausedNow: Record<StreamKind, number> = { c2s: 0, s2s: 0 };
  private readonly exempt: ReadonlySet<string>;
  private readonly perIpExempt: ReadonlySet<string>;

  constructor(private readonly options: LimitsOptions, private readonly hooks: SessionLimitsHooks) {
    this.exempt = new Set(options.exempt_ips);
    this.perIpExempt = new Set(options.per_ip_exempt);
  }

  /** Start limiting a new session's connection; returns whether it is limited. */
  attach(session: StreamSession): boolean {
    const kind = streamKind(session);
    const conn = session.conn;
    if (kind === undefined || !conn.gateReads || this.throttles.has(conn)) return false;
    const ip = session.type === 'c2s' || session.type === 'c2s_unauthed' ? session.ip : conn.remoteAddress;
    if (this.exempt.has(ip)) return false;
    const now = this.hooks.now();
    const own = this.buckets(this.options[kind], now);
    const stanzaBuckets = [own.stanzas];
    const byteBuckets = [own.bytes];
    if (this.options.per_ip.enabled && ip !== '' && !this.perIpExempt.has(ip)) {
      const shared = this.addressBuckets(kind, ip, now);
      stanzaBuckets.push(shared.stanzas);
      byteBuckets.push(shared.bytes);
    }
    let first = true;
    const throttle = new ReadThrottle({
      stanzaBuckets,
      byteBuckets,
      now: this.hooks.now,
      setTimeout: this.hooks.setTimeout,
      paused: (waitMs) => {
        this.pausedNow[kind]++;
        this.hooks.paused(kind, session, waitMs, first);
        first = false;
      },
      resumed: () => {
        this.pausedNow[kind]--;
      },
    });
    this.throttles.set(conn, throttle);
    this.ungate.set(conn, conn.gateReads(throttle.gate));
    return true;
  }

  /** A stanza arrived on this session (its in filter). */
  stanza(session: StreamSession): void {
    this.throttles.get(session.conn)?.stanza();
  }

  /** Read again and stop limiting (the module unloads). */
  detach(conn: Connection): void {
    this.ungate.get(conn)?.();
    this.throttles.get(conn)?.dispose();
    this.throttles.delete(conn);
  }

  /** Forget addresses none of whose connections is alive any more. */
  sweep(): void {
    for (const [key, ref] of this.addresses) if (ref.deref() === undefined) this.addresses.delete(key);
  }

  /** Addresses with shared buckets held (for tests). */
  get addressCount(): number {
    this.sweep();
    return this.addresses.size;
  }

  private buckets(o: StreamLimitOptions, now: number): AddressBuckets {
    return {
      stanzas: new DebtBucket({ rate: o.stanzas_per_second, burst: o.stanza_burst }, now),
      bytes: new DebtBucket({ rate: o.bytes_per_second, burst: o.byte_burst }, now),
    };
  }

  private sharedBucket(store: SpendStore, key: string, limit: { rate: number; burst: number }): SharedDebtBucket {
    return new SharedDebtBucket({ key, limit, store, now: this.hooks.now, setTimeout: this.hooks.setTimeout });
  }

  private addressBuckets(kind: StreamKind, ip: string, now: number): AddressBuckets {
    const key = `${kind} ${ip}`;
    const found = this.addresses.get(key)?.deref();
    if (found !== undefined) return found;
    const o = this.options.per_ip[kind];
    const store = this.hooks.shared;
    const made = store === undefined
      ? this.buckets(o, now)
      : {
          stanzas: this.sharedBucket(store, `read:${kind}:stanzas:${ip}`, { rate: o.stanzas_per_second, burst: o.stanza_burst }),
          bytes: this.sharedBucket(store, `read:${kind}:bytes:${ip}`, { rate: o.bytes_per_second, burst: o.byte_burst }),
        };
    this.addresses.set(key, new WeakRef(made));
    return made;
  }
}
