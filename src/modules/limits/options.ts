/** The `[modules.limits]` options (docs/abuse.md, docs/configuration.md). */
import { z } from 'zod';
import { list, size } from '../../core/option-schemas.js';

const positive = (dflt: number) => z.number().positive().default(dflt);
const burst = (dflt: number) => z.number().int().min(1).default(dflt);

/** One kind of stream: a stanza bucket and a byte bucket, each with its burst. */
const streamLimits = (d: { stanzas: number; stanzaBurst: number; bytes: string; byteBurst: string }) =>
  z.strictObject({
    stanzas_per_second: positive(d.stanzas),
    stanza_burst: burst(d.stanzaBurst),
    bytes_per_second: size(d.bytes, { min: 1 }),
    byte_burst: size(d.byteBurst, { min: 1 }),
  }).prefault({ bytes_per_second: d.bytes, byte_burst: d.byteBurst });

export const limitsOptions = z.strictObject({
  /**
   * Each client connection (TCP/TLS and WebSocket read paused; BOSH requests held back). The
   * stanza burst covers a client coming back without resuming its stream: per bookmarked room a
   * join, an archive catch-up query and a disco#info, plus its roster, carbons and PEP fetches.
   */
  c2s: streamLimits({ stanzas: 50, stanzaBurst: 500, bytes: '64 KiB', byteBurst: '1 MiB' }),
  /** Each server-to-server connection (carries a whole domain's traffic). */
  s2s: streamLimits({ stanzas: 500, stanzaBurst: 2000, bytes: '512 KiB', byteBurst: '4 MiB' }),
  /** All connections from one address together (clients and servers apart). */
  per_ip: z.strictObject({
    enabled: z.boolean().default(true),
    // Many people can share an address (an office's NAT): the burst lets a few of them come back at once.
    c2s: streamLimits({ stanzas: 200, stanzaBurst: 2000, bytes: '256 KiB', byteBurst: '4 MiB' }),
    s2s: streamLimits({ stanzas: 1000, stanzaBurst: 4000, bytes: '1 MiB', byteBurst: '8 MiB' }),
  }).prefault({}),
  /** Addresses whose connections are not limited at all (e.g. a trusted gateway). */
  exempt_ips: list(),
  /** Addresses that do not share a per-address bucket (many users behind them, e.g. a proxy). */
  per_ip_exempt: z.array(z.string()).default(() => ['127.0.0.1', '::1']),
  /** What one account may do, counted across its sessions (and nodes, when clustered). */
  account: z.strictObject({
    /** Messages with a body to JIDs not in the sender's roster, per hour (0: no limit). */
    messages_to_strangers_per_hour: z.number().int().min(0).default(200),
    /** Presence subscription requests sent, per hour (0: no limit). */
    subscriptions_per_hour: z.number().int().min(0).default(60),
    /** Group chat joins, per minute once the burst is spent (0: no limit). */
    muc_joins_per_minute: z.number().int().min(0).default(30),
    /**
     * Group chat joins at once after a quiet spell: a client that comes back (a new device, a
     * stream that could not be resumed) joins every bookmarked room in one go, often dozens.
     */
    muc_join_burst: z.number().int().min(1).default(100),
    /**
     * Subscription requests one account of another server may send to this server's users, per
     * hour (0: no limit): the receiving side of `subscriptions_per_hour`, for servers that do
     * not limit their users.
     */
    remote_subscriptions_per_hour: z.number().int().min(0).default(60),
  }).prefault({}),
});

export type LimitsOptions = z.output<typeof limitsOptions>;
