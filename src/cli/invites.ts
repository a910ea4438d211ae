/**
 * `canto invite create|list|revoke`: invites in the configured storage, the same store the
 * invites module reads at each use (src/modules/invites/store.ts), so they count at once on a
 * running server. `--admin`: the account created with the invite may invite others (Canto's
 * admins are the config's `admins`; an invite cannot make one). `--inviter JID`: the new
 * account and that one are subscribed to each other, and the URI is XEP-0401's roster form.
 *
 * `create` goes through the admin socket of a running server when there is one, so the invite
 * is counted in its metrics (`invites_created_total{via="cli"}`) and logged; otherwise it is
 * written to storage directly.
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { parseDuration } from '../core/units.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { silentLogger } from '../core/logging.js';
import type { MapStore, StorageDriver } from '../storage/types.js';
import { createInvite, INVITES_STORE, inviteUri, listInvites, revokeInvite, type Invite } from '../modules/invites/store.js';
import { askAdmin, findAdminSockets } from '../modules/adminsocket/protocol.js';
import { accountJid } from './accounts.js';
import { CommandFailed, UsageError } from './errors.js';

export interface InviteArgs {
  host?: string;
  expires?: string;
  uses?: string;
  group?: string;
  admin?: boolean;
  /** An account of the host the invited one is subscribed to (XEP-0401 roster invite). */
  inviter?: string;
  json?: boolean;
}

function hostOf(config: CantoConfig, given: string | undefined): string {
  const host = given ?? config.virtualhost[0]?.domain;
  if (host === undefined || !config.virtualhost.some((vh) => vh.domain === host)) {
    throw new CommandFailed(`${host ?? '(none)'} is not a virtual host of this server (served: ${config.virtualhost.map((v) => v.domain).join(', ')})`);
  }
  return host;
}

async function withInvites<T>(config: CantoConfig, host: string, fn: (store: MapStore<Invite>, storage: StorageDriver) => Promise<T>): Promise<T> {
  if (!storageDriverEntry(config).persistent) throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes`);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    return await fn(storage.map<Invite>(host, INVITES_STORE), storage);
  } finally {
    await storage.close();
  }
}

function links(config: CantoConfig, host: string, invite: Invite): { uri: string; url: string } {
  const base = (config.http.public_url ?? `https://${host}`).replace(/\/+$/, '');
  return { uri: inviteUri(host, invite), url: `${base}/invite/${invite.token}` };
}

/** Create through the first running server that answers; undefined when none runs. */
async function createViaServer(config: CantoConfig, host: string, args: Record<string, unknown>): Promise<{ invite: Invite; uri: string; url: string } | undefined> {
  for (const path of findAdminSockets(config.data_dir)) {
    let answer;
    try {
      answer = await askAdmin(path, { command: 'invite-create', host, args });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') continue; // left by a server that is gone
      throw new CommandFailed(`${path}: ${(err as Error).message}`);
    }
    if (!answer.ok) {
      // A server without the invites module: fall back to storage like an offline server.
      if (/unknown command|not available/.test(answer.error)) return undefined;
      throw new CommandFailed(answer.error);
    }
    return answer.result as { invite: Invite; uri: string; url: string };
  }
  return undefined;
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
      let inviter: string | undefined;
      if (args.inviter !== undefined) {
        const j = accountJid(config, args.inviter);
        if (j.domain !== host) throw new UsageError(`--inviter must be an account of ${host}`);
        inviter = j.local;
      }
      const request = { expiresInMs, maxUses: uses, group: args.group, mayInvite: args.admin === true, inviter };
      const viaServer = await createViaServer(config, host, request);
      const invite =
        viaServer?.invite ??
        (await withInvites(config, host, async (store, storage) => {
          if (inviter !== undefined && !(await storage.accounts.exists(host, inviter))) throw new CommandFailed(`${inviter}@${host}: no such account`);
          return createInvite(store, now, { ...request, via: 'cli' });
        }));
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

