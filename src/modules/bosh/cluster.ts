/**
 * BOSH without sticky sessions in a Redis cluster (docs/scaling.md, "BOSH on any node"). A BOSH
 * session lives in the process that created it; its sid names that node (`random~node_id`).
 * A request for a sid of another node is forwarded there: this node POSTs the body to the owner's
 * internal HTTP address (published in Redis as `canto:http:{node_id}`, from `[cluster]
 * advertise_http` or the node's own HTTP listener address), keeps the client's request open
 * while the owner holds it (long polling) and answers with the owner's response. An owner that is
 * not live (no lease, no published address, connection refused) answers like an unknown sid: the
 * `item-not-found` terminate.
 *
 * The forwarded request carries a token derived from the cluster's shared secret
 * (src/cluster/redis/shared-secret.ts) in `X-Canto-Forwarded`: with it, the owner takes the
 * `secure` flag the forwarding node saw from `X-Canto-Forwarded-Secure`, and never forwards the
 * request again (loop protection). Without a valid token both headers are ignored.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { createClient } from 'redis';
import type { Logger } from '../../core/logging.js';
import { keys } from '../../cluster/redis/keys.js';

type Client = ReturnType<typeof createClient>;

export const FORWARDED_HEADER = 'x-canto-forwarded';
export const FORWARDED_SECURE_HEADER = 'x-canto-forwarded-secure';
/** Between the random part of a sid and the node id (not in base64url, nor in node ids). */
const SID_NODE_SEPARATOR = '~';
/** The published address lives this long unless renewed (every PUBLISH_EVERY_MS). */
export const PUBLISH_TTL_MS = 20_000;
export const PUBLISH_EVERY_MS = 5_000;
/** A looked-up owner address is reused this long. */
const LOOKUP_CACHE_MS = 5_000;
/** Added to the longest wait a request may be held, for the forwarded request's time limit. */
const FORWARD_MARGIN_MS = 10_000;
const REDIS_TIMEOUT_MS = 2_000;

export interface BoshClusterOptions {
  redisUrl: string;
  nodeId: string;
  /** `[cluster] advertise_http`: this node's base URL for other nodes; else from `addresses`. */
  advertise: string | undefined;
  /** This node's bound plain HTTP listener addresses. */
  addresses: () => AddressInfo[];
  /** The BOSH path on every node. */
  path: string;
  /** The forwarding token (derived from the cluster secret). */
  token: string;
  /** The longest a BOSH request may be held (max_wait). */
  maxWaitMs: number;
  log: Logger;
}

/** A base URL from a bound address: none for a wildcard one (other nodes could not reach it). */
export function urlOfAddress(a: AddressInfo): string | undefined {
  if (a.address === '0.0.0.0' || a.address === '::' || a.address === '') return undefined;
  const host = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

export class BoshCluster {
  private client: Promise<Client> | undefined;
  private readonly lookups = new Map<string, { url: string | undefined; until: number }>();
  private warnedNoAddress = false;
  private closed = false;
  private readonly tokenBytes: Buffer;

  constructor(private readonly opts: BoshClusterOptions) {
    this.tokenBytes = Buffer.from(opts.token);
  }

  /** The sid suffix naming this node. */
  get sidSuffix(): string {
    return `${SID_NODE_SEPARATOR}${this.opts.nodeId}`;
  }

  /** The node id a sid names, when it is another node's. */
  foreignOwner(sid: string): string | undefined {
    const i = sid.lastIndexOf(SID_NODE_SEPARATOR);
    if (i < 0) return undefined;
    const node = sid.slice(i + 1);
    return node === '' || node === this.opts.nodeId ? undefined : node;
  }

  /** A request another node forwarded (valid token): the secure flag that node saw; else undefined. */
  forwarded(headers: IncomingHttpHeaders): { secure: boolean } | undefined {
    const given = headers[FORWARDED_HEADER];
    if (typeof given !== 'string') return undefined;
    const bytes = Buffer.from(given);
    if (bytes.length !== this.tokenBytes.length || !timingSafeEqual(bytes, this.tokenBytes)) return undefined;
    return { secure: headers[FORWARDED_SECURE_HEADER] === '1' };
  }

  /** This node's base URL for the others (undefined: none can be derived). */
  ownUrl(): string | undefined {
    if (this.opts.advertise !== undefined) return this.opts.advertise.replace(/\/+$/, '');
    for (const a of this.opts.addresses()) {
      const url = urlOfAddress(a);
      if (url !== undefined) return url;
    }
    return undefined;
  }

  /** Publish this node's address (renewed periodically; failures are logged and retried). */
  async publish(): Promise<void> {
    const url = this.ownUrl();
    if (url === undefined) {
      if (!this.warnedNoAddress && this.opts.addresses().length > 0) {
        this.warnedNoAddress = true;
        this.opts.log.warn('BOSH: no address other cluster nodes can forward requests to (the HTTP listener is on a wildcard address): set [cluster] advertise_http; BOSH clients must then stay on this node');
      }
      return;
    }
    try {
      const client = await this.redis();
      await withTimeout(client.set(keys.http(this.opts.nodeId), url, { PX: PUBLISH_TTL_MS }));
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'BOSH: could not publish this node\'s HTTP address in Redis');
    }
  }

  /** The owner's base URL when it is live (lease held, address published); undefined otherwise. */
  async ownerUrl(nodeId: string): Promise<string | undefined> {
    const now = Date.now();
    const cached = this.lookups.get(nodeId);
    if (cached && cached.until > now) return cached.url;
    let url: string | undefined;
    try {
      const client = await this.redis();
      const [address, lease] = await withTimeout(client.mGet([keys.http(nodeId), keys.lease(nodeId)]));
      url = address !== null && address !== undefined && lease !== null && lease !== undefined ? address : undefined;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'BOSH: could not look up a node\'s HTTP address in Redis');
      return undefined; // not cached: the next request asks again
    }
    if (this.lookups.size > 1000) this.lookups.clear();
    this.lookups.set(nodeId, { url, until: now + LOOKUP_CACHE_MS });
    return url;
  }

  /**
   * Forward a BOSH request to `base` and answer `res` with the owner's response (headers: ours
   * plus its content type and length). Resolves false, with `res` untouched, when the owner could
   * not be reached or did not answer in time (the caller answers item-not-found).
   */
  forward(base: string, body: Buffer, secure: boolean, res: ServerResponse, headers: Record<string, string>): Promise<boolean> {
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(this.opts.path, `${base}/`);
      } catch {
        resolve(false);
        return;
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      let settled = false;
      const done = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const upstream = send(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'text/xml; charset=utf-8',
          'Content-Length': String(body.length),
          [FORWARDED_HEADER]: this.opts.token,
          [FORWARDED_SECURE_HEADER]: secure ? '1' : '0',
        },
      });
      const timer = setTimeout(() => {
        upstream.destroy(new Error('the owning node did not answer in time'));
      }, this.opts.maxWaitMs + FORWARD_MARGIN_MS);
      upstream.on('error', (err) => {
        if (!settled) this.opts.log.info({ err: err.message, owner: base }, 'BOSH: forwarding a request to the owning node failed');
        if (res.headersSent) {
          res.destroy(); // cut mid-answer: the client retries the rid
          done(true);
        } else done(false);
      });
      upstream.on('response', (answer) => {
        if (answer.statusCode !== 200) {
          answer.resume();
          this.opts.log.info({ status: answer.statusCode, owner: base }, 'BOSH: the owning node refused a forwarded request');
          done(false);
          return;
        }
        const out: Record<string, string> = { 'Cache-Control': 'no-store', ...headers };
        const type = answer.headers['content-type'];
        const length = answer.headers['content-length'];
        if (type !== undefined) out['Content-Type'] = type;
        if (length !== undefined) out['Content-Length'] = length;
        res.writeHead(200, out);
        answer.pipe(res);
        answer.on('end', () => done(true));
        answer.on('error', () => {
          res.destroy();
          done(true);
        });
      });
      // The client gave up: so does the forwarded request (the owner sees it go, as for its own clients).
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.client;
    this.client = undefined;
    if (!pending) return;
    try {
      const client = await pending;
      await withTimeout(client.del(keys.http(this.opts.nodeId))).catch(() => undefined);
      await client.quit();
    } catch {
      // Never connected, or gone already.
    }
  }

  private redis(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('closed'));
    this.client ??= this.connect().catch((err: unknown) => {
      this.client = undefined; // the next call tries again
      throw err;
    });
    return this.client;
  }

  private async connect(): Promise<Client> {
    const { createClient: create } = await import('redis');
    const client = create({
      url: this.opts.redisUrl,
      disableOfflineQueue: true,
      socket: { connectTimeout: REDIS_TIMEOUT_MS, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 2000) },
    });
    client.on('error', () => {}); // reported by the failing commands
    await withTimeout(client.connect());
    return client;
  }
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
