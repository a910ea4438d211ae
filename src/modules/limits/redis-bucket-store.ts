/**
 * Token buckets in Redis, shared by the nodes of a Redis cluster: one hash per key (tokens and
 * the time they were computed), updated by one Lua script so two nodes cannot both take the last
 * token. The time is Redis's own (TIME), so the nodes' clocks do not matter. A key expires once
 * its bucket would be full again. When Redis cannot be reached the take is allowed (failing open:
 * a Redis outage must not stop every user's messages) and logged. The Redis client library is
 * imported on first use only (it costs tens of MiB of RSS; bench/README.md).
 */
import type { createClient } from 'redis';
import type { Logger } from '../../core/logging.js';
import type { RateLimit } from '../../util/rate-limiter.js';
import type { BucketStore } from './bucket-store.js';

type Client = ReturnType<typeof createClient>;

/** The key prefix; the cluster engine's keys use `canto:` too (src/cluster/redis/keys.ts). */
const PREFIX = 'canto:limit:';
/** A take waits this long for Redis at most (a stanza is held meanwhile), then lets it through. */
const TAKE_TIMEOUT_MS = 1000;
/** How long takes are let through after Redis failed before it is asked again. */
const RETRY_MS = 5000;

/** KEYS bucket · ARGV rate, burst → 1 (taken) or 0 (empty). */
const TAKE = `local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return ok`;

export class RedisBucketStore implements BucketStore {
  private client: Client | undefined;
  private sha: string | undefined;
  /** Until when (ms) takes are let through without asking Redis, after a failure. */
  private downUntil = 0;
  private connected: Promise<Client> | undefined;

  constructor(private readonly url: string, private readonly log: Logger) {}

  async take(key: string, limit: RateLimit): Promise<boolean> {
    // After a failure, Redis is not asked for a while: stanzas are not held for nothing.
    if (Date.now() < this.downUntil) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${TAKE_TIMEOUT_MS} ms`)), TAKE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.takeNow(key, limit), timeout]);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, retry_in_ms: RETRY_MS }, 'limits: Redis unavailable, not limiting');
      this.downUntil = Date.now() + RETRY_MS;
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  private async takeNow(key: string, limit: RateLimit): Promise<boolean> {
    this.connected ??= this.connect().catch((err: unknown) => {
      this.connected = undefined; // the next take tries again
      throw err;
    });
    const client = await this.connected;
    return (await this.run(client, `${PREFIX}${key}`, limit)) === 1;
  }

  private async connect(): Promise<Client> {
    const { createClient: create } = await import('redis');
    // No offline queue: while Redis is away a take fails at once (and is let through).
    const client = create({
      url: this.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1000) },
    });
    client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'limits: redis connection error'));
    this.client = client;
    await client.connect();
    return client;
  }

  private async run(client: Client, key: string, limit: RateLimit): Promise<unknown> {
    const args = [String(limit.rate), String(limit.burst)];
    if (this.sha !== undefined) {
      try {
        return await client.sendCommand(['EVALSHA', this.sha, '1', key, ...args]);
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      }
    }
    this.sha = String(await client.sendCommand(['SCRIPT', 'LOAD', TAKE]));
    return client.sendCommand(['EVALSHA', this.sha, '1', key, ...args]);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connected = undefined;
    // disconnect, not quit: a client reconnecting to a Redis that is away would wait for ever.
    if (client?.isOpen === true) await client.disconnect().catch(() => {});
  }
}
