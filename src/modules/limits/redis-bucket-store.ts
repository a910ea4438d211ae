/**
 * Token buckets in Redis, shared by the nodes of a Redis cluster: one hash per key (tokens and
 * the time they were computed), updated by one Lua script so two nodes cannot both take the last
 * token. The time is Redis's own (TIME), so the nodes' clocks do not matter. A key expires once
 * its bucket would be full again. When Redis cannot be reached the take is allowed (failing open:
 * a Redis outage must not stop every user's messages) and logged.
 */
import { createClient } from 'redis';
import type { Logger } from '../../core/logging.js';
import type { RateLimit } from '../../util/rate-limiter.js';
import type { BucketStore } from './bucket-store.js';

type Client = ReturnType<typeof createClient>;

/** The key prefix; the cluster engine's keys use `canto:` too (src/cluster/redis/keys.ts). */
const PREFIX = 'canto:limit:';

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
  private readonly client: Client;
  private sha: string | undefined;
  private connected: Promise<unknown> | undefined;

  constructor(url: string, private readonly log: Logger) {
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1000) },
    });
    this.client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'limits: redis connection error'));
  }

  async take(key: string, limit: RateLimit): Promise<boolean> {
    try {
      this.connected ??= this.client.connect();
      await this.connected;
      return (await this.run(`${PREFIX}${key}`, limit)) === 1;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, key }, 'limits: Redis unavailable, not limiting');
      return true;
    }
  }

  private async run(key: string, limit: RateLimit): Promise<unknown> {
    const args = [String(limit.rate), String(limit.burst)];
    if (this.sha !== undefined) {
      try {
        return await this.client.sendCommand(['EVALSHA', this.sha, '1', key, ...args]);
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      }
    }
    this.sha = String(await this.client.sendCommand(['SCRIPT', 'LOAD', TAKE]));
    return this.client.sendCommand(['EVALSHA', this.sha, '1', key, ...args]);
  }

  async close(): Promise<void> {
    if (this.connected === undefined) return;
    try {
      await this.connected;
      await this.client.quit();
    } catch {
      // already gone
    }
  }
}
