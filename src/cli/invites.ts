/**
 * `canto invite create|list|revoke`: invites in the configured storage, the same store the
 * invites module reads at each use (src/modules/invites/store.ts), so they count at once on a
 * running server. `--admin`: the account created with the invite may invite others (Canto's
 * admins are the config's `admins`; an invite cannot make one).
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { parseDuration } from '../core/units.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { silentLogger } from '../core/logging.js';
import type { MapStore } from '../storage/types.js';
import { createInvite, INVITES_STORE, listInvites, revokeInvite, type Invite } from '../modules/invites/store.js';
import { CommandFailed, UsageError } from './errors.js';

export interface InviteArgs {
  host?: string;
  expires?: string;
  uses?: string;
  group?: string;
  admin?: boolean;
  json?: boolean;
}

function hostOf(config: CantoConfig, given: string | undefined): string {
  const host = given ?? config.virtualhost[0]?.domain;
  if (host === undefined || !config.virtualhost.some((vh) => vh.domain === host)) {
    throw new CommandFailed(`${host ?? '(none)'} is not a virtual host of this server (served: ${config.virtualhost.map((v) => v.domain).join(', ')})`);
  }
  return host;
}

async function withInvites<T>(config: CantoConfig, host: string, fn: (store: MapStore<Invite>) => Promise<T>): Promise<T> {
  if (!storageDriverEntry(config).persistent) throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes`);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    return await fn(storage.map<Invite>(host, INVITES_STORE));
  } finally {
    await storage.close();
  }
}

function links(config: CantoConfig, host: string, invite: Invite): { uri: string; url: string } {
  const base = (config.http.public_url ?? `https://${host}`).replace(/\/+$/, '');
  return { uri: `xmpp:${host}?register;preauth=${invite.token}`, url: `${base}/invite/${invite.token}` };
}

export async function runInvite(config: CantoConfig, sub: string | undefined, rest: string[], args: InviteArgs): Promise<number> {
  const host = hostOf(config, args.host);
  const now = Date.now();
  switch (sub) {
    case 'create': {
      if (rest.length !== 0) throw new UsageError('invite create takes no arguments');
      let expiresInMs: number;
      try {
        expiresInMs = parseDuration(args.expires ?? '7d');
      } catch (err) {
        throw new UsageError(`--expires: ${(err as Error).message}`);
      }
      const uses = args.uses === undefined ? 1 : Number(args.uses);
      if (!Number.isInteger(uses) || uses < 1) throw new UsageError('--uses takes a whole number of at least 1');
      const invite = await withInvites(config, host, (store) => createInvite(store, now, { expiresInMs, maxUses: uses, group: args.group, mayInvite: args.admin === true, via: 'cli' }));
      const { uri, url } = links(config, host, invite);
      if (args.json) process.stdout.write(`${JSON.stringify({ ...invite, uri, url })}\n`);
      else process.stdout.write(`${url}\n${uri}\nvalid until ${new Date(invite.expires).toISOString()}, ${uses} account(s)\n`);
      return 0;
    }
    case 'list': {
      const invites = await withInvites(config, host, (store) => listInvites(store, now));
      if (args.json) {
        process.stdout.write(`${JSON.stringify(invites)}\n`);
        return 0;
      }
      for (const i of invites) {
        const state = i.revoked ? 'revoked' : i.usedBy.length >= i.maxUses ? 'used' : 'valid';
        process.stdout.write(`${i.token}  ${state}  ${i.usedBy.length}/${i.maxUses} used  until ${new Date(i.expires).toISOString()}${i.inviter ? `  from ${i.inviter}@${host}` : ''}${i.group ? `  group ${i.group}` : ''}\n`);
      }
      if (invites.length === 0) process.stdout.write('no invites\n');
      return 0;
    }
    case 'revoke': {
      if (rest.length !== 1) throw new UsageError('invite revoke takes the token');
      const token = rest[0] as string;
      const found = await withInvites(config, host, (store) => revokeInvite(store, token));
      if (!found) throw new CommandFailed(`there is no invite ${token} on ${host}`);
      process.stdout.write(`revoked ${token}\n`);
      return 0;
    }
    default:
      throw new UsageError('invite takes create, list or revoke');
  }
}

