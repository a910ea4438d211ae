/**
 * What `canto cluster status` shows: every member Redis knows, whether its lease is current,
 * when it expires, how many resources it has bound, how many stream entries wait for it and
 * which singleton services (MUC and pubsub domains, external components) it serves or holds.
 * Read-only; works whether or not a node runs on this machine.
 */
import { createClient } from 'redis';
import { GROUP, PREFIX, keys, parseMember } from './keys.js';

export interface MemberStatus {
  nodeId: string;
  incarnation: string;
  /** The lease is held by this incarnation (else: dead, waiting to be reaped). */
  alive: boolean;
  /** Milliseconds until the lease expires (alive members only). */
  leaseExpiresInMs?: number;
  sessions: number;
  /** Stream entries not yet acknowledged: unread plus read-but-pending. */
  queued: number;
  /** The singleton services (MUC and pubsub domains, external components it holds) this member owns (src/cluster/redis/placement.ts). */
  services: string[];
}

/** Owner member → the services it owns, from the `owner:{domain}` keys. */
async function serviceOwners(client: ReturnType<typeof createClient>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const prefix = keys.owner('');
  let cursor = '0';
  do {
    const [next, found] = (await client.sendCommand(['SCAN', cursor, 'MATCH', `${PREFIX}owner:*`, 'COUNT', '100'])) as unknown as [string, string[]];
    cursor = String(next);
    for (const key of found) {
      const owner = (await client.sendCommand(['GET', key])) as unknown as string | null;
      if (owner === null) continue;
      const list = out.get(owner) ?? [];
      list.push(key.slice(prefix.length));
      out.set(owner, list);
    }
  } while (cursor !== '0');
  return out;
}

export async function clusterStatus(url: string): Promise<MemberStatus[]> {
  const client = createClient({ url, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    const members = (await client.sendCommand(['ZRANGE', keys.members, '0', '-1'])) as string[];
    const out: MemberStatus[] = [];
    const owners = await serviceOwners(client);
    for (const member of members) {
      const { nodeId, incarnation } = parseMember(member);
      const [holder, pttl, sessions, length] = (await Promise.all([
        client.sendCommand(['GET', keys.lease(nodeId)]),
        client.sendCommand(['PTTL', keys.lease(nodeId)]),
        client.sendCommand(['SCARD', keys.memberSessions(member)]),
        client.sendCommand(['XLEN', keys.stream(member)]),
      ])) as unknown as [string | null, number, number, number];
      const alive = holder === incarnation;
      const s: MemberStatus = { nodeId, incarnation, alive, sessions: Number(sessions), queued: Number(length), services: (owners.get(member) ?? []).sort() };
      if (alive) s.leaseExpiresInMs = Number(pttl);
      out.push(s);
    }
    return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId) || Number(b.alive) - Number(a.alive));
  } finally {
    client.destroy();
  }
}

/** The table the CLI prints. */
export function formatStatus(members: readonly MemberStatus[]): string {
  const rows = [['NODE', 'INCARNATION', 'STATE', 'LEASE EXPIRES IN', 'SESSIONS', 'QUEUED', 'SERVES']];
  for (const m of members) {
    rows.push([
      m.nodeId, m.incarnation, m.alive ? 'alive' : 'dead (to reap)',
      m.leaseExpiresInMs !== undefined ? `${(m.leaseExpiresInMs / 1000).toFixed(1)} s` : '-',
      String(m.sessions), String(m.queued), m.services.length > 0 ? m.services.join(',') : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const alive = members.filter((m) => m.alive);
  lines.push('', `${alive.length} node${alive.length === 1 ? '' : 's'} alive, ${alive.reduce((n, m) => n + m.sessions, 0)} sessions bound (consumer group "${GROUP}")`);
  return `${lines.join('\n')}\n`;
}
