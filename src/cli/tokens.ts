/**
 * `canto token create|list|revoke`: the admin API's bearer tokens (docs/admin-api.md), in the
 * configured storage, the same store the admin_api module reads at each request
 * (src/modules/admin_api/tokens.ts): a token made or revoked here counts at once on a running
 * server. The token is printed once; only its SHA-256 is stored.
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { parseDuration } from '../core/units.js';
import { silentLogger } from '../core/logging.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import type { MapStore } from '../storage/types.js';
import { AREAS, createToken, listTokens, NAME_SHAPE, parseScope, revokeToken, TOKENS_HOST, TOKENS_STORE, type Scope, type StoredToken } from '../modules/admin_api/tokens.js';
import { CommandFailed, UsageError } from './errors.js';

export interface TokenArgs {
  scope?: string[];
  expires?: string;
  name?: string;
  json?: boolean;
}

async function withTokens<T>(config: CantoConfig, fn: (store: MapStore<StoredToken>) => Promise<T>): Promise<T> {
  if (!storageDriverEntry(config).persistent) throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes`);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    return await fn(storage.map<StoredToken>(TOKENS_HOST, TOKENS_STORE));
  } finally {
    await storage.close();
  }
}

/** The scopes of the --scope options (each may also be a comma-separated list). */
export function scopesOf(given: readonly string[]): Scope[] {
  const scopes: Scope[] = [];
  for (const text of given.flatMap((g) => g.split(',')).map((s) => s.trim()).filter((s) => s !== '')) {
    const parsed = parseScope(text);
    if (!parsed) throw new UsageError(`--scope ${text}: expected <area>:read or <area>:write, areas: ${AREAS.join(', ')}, or *`);
    scopes.push(...parsed);
  }
  if (scopes.length === 0) throw new UsageError('token create needs at least one --scope (e.g. --scope users:write)');
  return [...new Set(scopes)];
}

const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString());

export async function runToken(config: CantoConfig, sub: string | undefined, rest: string[], args: TokenArgs): Promise<number> {
  const now = Date.now();
  switch (sub) {
    case 'create': {
      if (rest.length !== 0) throw new UsageError('token create takes no arguments (use --name)');
      const scopes = scopesOf(args.scope ?? []);
      let expiresInMs: number | undefined;
      if (args.expires !== undefined && args.expires !== 'never') {
        try {
          expiresInMs = parseDuration(args.expires);
        } catch (err) {
          throw new UsageError(`--expires: ${(err as Error).message}`);
        }
        if (!(expiresInMs > 0)) throw new UsageError('--expires must be a positive duration');
      }
      const name = args.name ?? `token-${new Date(now).toISOString().slice(0, 10)}`;
      if (!NAME_SHAPE.test(name)) throw new UsageError('--name: 1 to 64 letters, digits, spaces and ._@- (starting with a letter or digit)');
      const { token, record } = await withTokens(config, (store) => createToken(store, now, { name, scopes, expiresInMs }));
      if (args.json) process.stdout.write(`${JSON.stringify({ token, id: record.id, name, scopes: record.scopes, expires: record.expires ?? null })}\n`);
      else {
        process.stdout.write(`${token}\n`);
        process.stderr.write(`token ${record.id} "${name}": ${record.scopes.join(' ')}; expires ${iso(record.expires)}\nIt is shown only now: keep it somewhere safe.\n`);
      }
      return 0;
    }
    case 'list': {
      if (rest.length !== 0) throw new UsageError('token list takes no arguments');
      const tokens = await withTokens(config, (store) => listTokens(store));
      if (args.json) {
        process.stdout.write(`${JSON.stringify(tokens)}\n`);
        return 0;
      }
      for (const t of tokens) {
        const state = t.revoked ? 'revoked' : t.expires !== undefined && t.expires <= now ? 'expired' : 'valid';
        process.stdout.write(`${t.id}  ${state}  "${t.name}"  ${t.scopes.join(' ')}  created ${iso(t.created)}  expires ${iso(t.expires)}  last used ${t.lastUsed === undefined ? 'never' : iso(t.lastUsed)}\n`);
      }
      if (tokens.length === 0) process.stdout.write('no tokens\n');
      return 0;
    }
    case 'revoke': {
      if (rest.length !== 1) throw new UsageError('token revoke takes the token\'s id or name');
      const which = rest[0] as string;
      const n = await withTokens(config, (store) => revokeToken(store, which));
      if (n === 0) throw new CommandFailed(`there is no valid token with the id or name "${which}"`);
      process.stdout.write(`revoked ${n} token(s)\n`);
      return 0;
    }
    default:
      throw new UsageError('token takes create, list or revoke');
  }
}
