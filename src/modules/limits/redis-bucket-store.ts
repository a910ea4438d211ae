/**
 * Token buckets in Redis, shared by the nodes of a Redis cluster: one hash per key (tokens and
 * the time they were computed), updated by one Lua script so two nodes cannot both take the last
 * token. The time is Redis's own (TIME), so the nodes' clocks do not matter. A key expires once
 * its bucket would be full again. When Redis cannot be reached the take is allowed (failing open:
 * a Redis outage must not stop every user's messages) and logged. The Redis client library is
 * imported on first use only (it costs tens of MiB of RSS; bench/README.md).
 *
 * Besides `take` (one token, for the account limits) it has `spend` (any number of tokens, going
 * into debt: the per-address read buckets settle their local spending here in batches,
 * shared-bucket.ts) and `slot` (a sliding window of events, for the registration limits), and
 * `fail`/`failures` (sliding windows of failed logins, for the saslauth throttle: saslauth/throttle.ts),
 * and `count` (per-process counts with a TTL, summed: the unauthenticated connections per address,
 * c2s/client-session.ts).
 */
import type { createClient } from 'redis';
import type { Logger } from '../../core/logging.js';
import type { RateLimit } from '../../util/rate-limiter.js';
import type { BucketStore } from './bucket-store.js';

type Client = ReturnType<typeof createClient>;

/** The key prefix; the cluster engine's keys use `canto:` too (src/cluster/redis/keys.ts). */
const PREFIX = 'canto:limit:';
/** A call waits this long for Redis at most (a stanza is held meanwhile), then lets it through. */
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

/** KEYS bucket · ARGV rate, burst, n → the tokens left after spending n (may be negative), as a string. */
const SPEND = `local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate) - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(tokens)`;

/** KEYS window (a sorted set of event ids by time) · ARGV max, window ms, id → 1 (recorded) or 0 (full). */
const SLOT = `local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1`;

/**
 * KEYS windows (sorted sets of failure ids by time) · ARGV window ms, cap, id → nothing. Each key
 * gets the failure; a window keeps its newest `cap` failures (more change no delay).
 */
const FAIL = `local window = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
  redis.call('PEXPIRE', key, window)
end
return 1`;

/** KEYS windows · ARGV window ms → the failures of each in the window. */
const FAILURES = `local window = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('ZCOUNT', key, '(' .. (now - window), '+inf')
end
return counts`;

/**
 * KEYS counts (a hash: process instance → "count:expiry ms") · ARGV instance, delta, ttl ms → the
 * total of the live instances' counts after adding `delta` to this instance's. An instance's
 * count expires `ttl` after its last increase (a dead process's count goes by itself); an
 * increase renews it, a decrease does not.
 */
const COUNT = `local delta = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = 0
local mine = 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local f, v = flat[i], flat[i + 1]
  local sep = string.find(v, ':', 1, true)
  local n = tonumber(string.sub(v, 1, sep - 1)) or 0
  local exp = tonumber(string.sub(v, sep + 1)) or 0
  if exp <= now then
    redis.call('HDEL', KEYS[1], f)
  elseif f == ARGV[1] then
    mine = n
  else
    total = total + n
  end
end
mine = mine + delta
if mine <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return total
end
if delta > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], mine .. ':' .. (now + ttl))
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  local v = redis.call('HGET', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[1], ARGV[1], mine .. ':' .. string.sub(v, string.find(v, ':', 1, true) + 1))
end
return total + mine`;

const SCRIPTS = { take: TAKE, spend: SPEND, slot: SLOT, fail: FAIL, failures: FAILURES, count: COUNT };
type ScriptName = keyof typeof SCRIPTS;

export class RedisBucketStore implements BucketStore {
  private client: Client | undefined;
  private readonly shas = new Map<ScriptName, string>();
  /** Until when (ms) Redis is not asked, after a failure. */
  private downUntil = 0;
  private connected: Promise<Client> | undefined;
  /** Closed (the module unloaded): Redis is not asked again, nor connected to. */
  private closed = false;

  constructor(private readonly url: string, private readonly log: Logger) {}

  async take(key: string, limit: RateLimit): Promise<boolean> {
    const r = await this.ask((client) => this.run(client, 'take', key, [limit.rate, limit.burst]));
    // Failing open: with Redis away the stanza is let through.
    return r === undefined ? true : r === 1;
  }

  /**
   * Spend `n` tokens of `key`'s bucket (it may go into debt); the tokens left, or undefined when
   * Redis cannot be reached (the caller keeps counting locally).
   */
  async spend(key: string, limit: RateLimit, n: number): Promise<number | undefined> {
    const r = await this.ask((client) => this.run(client, 'spend', key, [limit.rate, limit.burst, n]));
    return r === undefined ? undefined : Number(r);
  }

  /**
   * Record one event in `key`'s sliding window of `windowMs` unless it already holds `max`:
   * a function that removes it again (the event did not happen after all), false when the window
   * is full, undefined when Redis cannot be reached (the caller decides).
   */
  async slot(key: string, max: number, windowMs: number): Promise<(() => Promise<void>) | false | undefined> {
    const id = `${Date.now()}:${Math.random().toString(36).slice(2)}`;
    const r = await this.ask((client) => this.run(client, 'slot', key, [max, windowMs, id]));
    if (r === undefined) return undefined;
    if (r !== 1) return false;
    let returned = false;
    return async () => {
      if (returned) return;
      returned = true;
      await this.ask((client) => client.sendCommand(['ZREM', `${PREFIX}${key}`, id]));
    };
  }

  /**
   * Count one failed login in each of `keys`' sliding windows of `windowMs` (each keeps its newest
   * `cap`). One script call; resolves when done (callers need not wait; Redis away: nothing).
   */
  async fail(keys: string[], windowMs: number, cap: number): Promise<void> {
    const id = `${Date.now()}:${Math.random().toString(36).slice(2)}`;
    await this.ask((client) => this.run(client, 'fail', keys, [windowMs, cap, id]));
  }

  /**
   * The failures in each of `keys`' windows of `windowMs`: one script call waiting `timeoutMs` at
   * most; undefined when Redis cannot be reached or is slower (the caller counts locally).
   */
  async failures(keys: string[], windowMs: number, timeoutMs: number): Promise<number[] | undefined> {
    const r = await this.ask((client) => this.run(client, 'failures', keys, [windowMs]), timeoutMs);
    if (!Array.isArray(r) || r.length !== keys.length) return undefined;
    return r.map((n) => Number(n));
  }

  /**
   * Add `delta` to this process's (`instance`'s) count of `key`, which expires `ttlMs` after its
   * last increase: the total of every live instance's count after it, or undefined when Redis
   * cannot be reached (the caller counts locally). For counts of open things (unauthenticated
   * connections per address, c2s/client-session.ts).
   */
  async count(key: string, instance: string, delta: number, ttlMs: number): Promise<number | undefined> {
    const r = await this.ask((client) => this.run(client, 'count', key, [instance, delta, Math.max(1, Math.round(ttlMs))]));
    return r === undefined ? undefined : Number(r);
  }

  /** Connect in the background (calls made meanwhile wait for it, within their time limits). */
  connectSoon(): void {
    if (!this.closed) this.client_().catch(() => {});
  }

  /** Run a command with a time limit; undefined (logged, and Redis left alone for a while) when it fails. */
  private async ask(fn: (client: Client) => Promise<unknown>, timeoutMs = TAKE_TIMEOUT_MS): Promise<unknown> {
    // After a failure, Redis is not asked for a while: stanzas are not held for nothing.
    if (this.closed || Date.now() < this.downUntil) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.client_().then(fn), timeout]);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, retry_in_ms: RETRY_MS }, 'limits: Redis unavailable: account limits let through, address, registration, login failure and unauthenticated connection limits counted on this node alone');
      this.downUntil = Date.now() + RETRY_MS;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private client_(): Promise<Client> {
    this.connected ??= this.connect().catch((err: unknown) => {
      this.connected = undefined; // the next call tries again
      throw err;
    });
    return this.connected;
  }

  private async connect(): Promise<Client> {
    const { createClient: create } = await import('redis');
    // No offline queue: while Redis is away a call fails at once.
    const client = create({
      url: this.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1000) },
    });
    client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'limits: redis connection error'));
    this.client = client;
    await client.connect();
    if (this.closed) {
      // Closed while connecting: do not leave the connection behind.
      await client.disconnect().catch(() => {});
      throw new Error('closed');
    }
    return client;
  }

  private async run(client: Client, script: ScriptName, key: string | string[], argv: (number | string)[]): Promise<unknown> {
    const args = argv.map(String);
    const full = (typeof key === 'string' ? [key] : key).map((k) => `${PREFIX}${k}`);
    const keys = [String(full.length), ...full];
    const sha = this.shas.get(script);
    if (sha !== undefined) {
      try {
        return await client.sendCommand(['EVALSHA', sha, ...keys, ...args]);
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      }
    }
    const loaded = String(await client.sendCommand(['SCRIPT', 'LOAD', SCRIPTS[script]]));
    this.shas.set(script, loaded);
    return client.sendCommand(['EVALSHA', loaded, ...keys, ...args]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.connected = undefined;
    // disconnect, not quit: a client reconnecting to a Redis that is away would wait for ever.
    if (client?.isOpen === true) await client.disconnect().catch(() => {});
  }
}
