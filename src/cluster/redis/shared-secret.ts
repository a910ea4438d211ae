/**
 * One random secret shared by every node of a Redis cluster, for what the nodes must agree on
 * without configuration: the s2s dialback key secret (a key one node made is verified by any
 * other) and the token that marks a BOSH request one node forwarded to another. The first node
 * that asks makes it (`SET canto:secret NX`); everyone then reads the same value. It never
 * expires and is never logged. Each use derives its own value from it (`deriveSecret`), so one
 * purpose's value says nothing about another's.
 *
 * The Redis client library is imported on first use only (tens of MiB of RSS; bench/README.md).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { keys } from './keys.js';

const CONNECT_TIMEOUT_MS = 5000;

/** One read per process and URL: the value does not change while the cluster's Redis keeps it. */
const cache = new Map<string, Promise<string>>();

/** The cluster secret in the Redis at `url`, made there first if no node has made it yet. */
export function clusterSecret(url: string): Promise<string> {
  let p = cache.get(url);
  if (!p) {
    p = readOrCreate(url).catch((err: unknown) => {
      cache.delete(url); // the next caller tries again
      throw err;
    });
    cache.set(url, p);
  }
  return p;
}

/** A value for one purpose (e.g. 'dialback'), derived from the cluster secret. */
export function deriveSecret(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(`canto ${purpose}`).digest('hex');
}

/**
 * Put `value` (the secret this process read at start) back if Redis lost it (restarted empty), so
 * a node started later reads the same one; true when Redis now holds `value`, false when it holds
 * another (a node made a new one meanwhile: this process and the newer nodes disagree until one
 * side restarts). Rejects when Redis cannot be reached.
 */
export async function keepClusterSecret(url: string, value: string): Promise<boolean> {
  return (await setNxAndGet(url, value)) === value;
}

function readOrCreate(url: string): Promise<string> {
  return setNxAndGet(url, randomBytes(32).toString('hex'));
}

async function setNxAndGet(url: string, candidate: string): Promise<string> {
  const { createClient } = await import('redis');
  const client = createClient({ url, disableOfflineQueue: true, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false } });
  client.on('error', () => {}); // reported through the rejected command instead
  await client.connect();
  try {
    await client.set(keys.secret, candidate, { NX: true });
    const value = await client.get(keys.secret);
    if (value === null || value === '') throw new Error(`${keys.secret} is missing right after SET NX`);
    return value;
  } finally {
    await client.quit().catch(() => undefined);
  }
}
