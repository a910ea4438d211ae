/** `canto cluster status [--json]`: the members of the Redis-backed cluster (docs/scaling.md). */
import type { CantoConfig } from '../core/config.js';
import { CommandFailed, UsageError } from './errors.js';

export async function runCluster(config: CantoConfig, sub: string | undefined, args: string[], opts: { json?: boolean }): Promise<number> {
  if (sub !== 'status' || args.length > 0) throw new UsageError('usage: canto cluster status [--json]');
  const url = config.cluster.redis;
  if (url === undefined) throw new CommandFailed('this configuration has no [cluster] redis: there is no Redis-backed cluster to show');
  let members;
  try {
    members = await (await loadStatus()).clusterStatus(url);
  } catch (err) {
    throw new CommandFailed(`cannot read the cluster state from Redis: ${(err as Error).message}`);
  }
  process.stdout.write(opts.json ? `${JSON.stringify(members, null, 2)}\n` : (await loadStatus()).formatStatus(members));
  return 0;
}

/** The Redis client loads only for this command (it adds ~20 MiB to any process that imports it). */
function loadStatus(): Promise<typeof import('../cluster/redis/status.js')> {
  return import('../cluster/redis/status.js');
}
