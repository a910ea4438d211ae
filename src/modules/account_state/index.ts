/**
 * Account lifecycle: disabled accounts (no login; their sessions are closed) and deletion with
 * a grace period (the account is deleted when the period ends, unless its owner logs in first,
 * which restores it). Provides the `accounts-state` service to register, adhoc and invites.
 * README.md in this folder.
 *
 * Logins are refused through the core's `pre-authenticated` veto, which every authentication
 * path (SASL today, SASL2/FAST later) passes through `sessions.makeAuthenticated`: no change
 * to the SASL modules is needed.
 */
import { defineModule } from '../../core/modules.js';
import type { CloseReason } from '../../core/session.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { fastService } from '../adhoc/fast.js';
import { AdminError } from '../adminsocket/index.js';
import { emptyState, HOST_KEY, normalise, STATE_STORE, type AccountStateDoc } from './state.js';

export interface AccountsState {
  /** Whether the account is disabled (synchronous: read from memory). */
  isDisabled(username: string): boolean;
  /** A login of this account is about to succeed: true (logged, counted) when it must be refused. */
  refusesLogin(username: string): boolean;
  /** Disable: refuse its logins and close its sessions. False when there is no such account. */
  disable(username: string, by?: string, reason?: string): Promise<boolean>;
  /** Enable again; false when it was not disabled. */
  enable(username: string): Promise<boolean>;
  /** When a scheduled deletion happens (ms since the epoch), if one is scheduled. */
  deletionDue(username: string): number | undefined;
  /** Close the account's sessions and delete it after `graceMs` unless its owner logs in first. */
  scheduleDeletion(username: string, graceMs: number): Promise<number>;
  /** Close every session and delete the account now; false when there was none. */
  deleteNow(username: string): Promise<boolean>;
  /** Close every session of the account with this stream error. */
  closeSessions(username: string, reason: CloseReason): number;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'accounts-state': AccountsState;
  }
}

export const ACCOUNT_DISABLED: CloseReason = { condition: 'not-authorized', text: 'account disabled' };
export const ACCOUNT_DELETED: CloseReason = { condition: 'not-authorized', text: 'account removed' };

/** Above MAM (500) and carbons (1): a pending deletion's messages are bounced before either. */
const PENDING_DELETION_PRIORITY = 1000;

/** How often due deletions are looked for. */
const SWEEP_MS = 60_000;

export default defineModule({
  name: 'account_state',
  description: 'Disabled accounts and deletion with a grace period',
  async setup(mod) {
    const store = mod.keyval<AccountStateDoc>(STATE_STORE);
    let state: AccountStateDoc = normalise(await store.get(HOST_KEY));
    const update = async (fn: (doc: AccountStateDoc) => void): Promise<void> => {
      const next = await store.update(HOST_KEY, (current) => {
        const doc = normalise(current ?? emptyState());
        fn(doc);
        return doc;
      });
      state = normalise(next);
    };
    // Another process (a cluster worker, `canto`) changed it: read it again.
    mod.cachedStore(STATE_STORE, async (username) => {
      if (username === HOST_KEY) state = normalise(await store.get(HOST_KEY));
    });

    const changes = mod.measure.counter('account_state_changes_total', 'Account lifecycle changes, by kind (disabled, enabled, login_refused, deletion_scheduled, deletion_cancelled, deleted)', ['kind']);
    mod.measure.gauge('account_state_accounts', 'Accounts disabled or waiting for deletion, by state', ['state'], (g) => {
      g.set(Object.keys(state.disabled).length, { state: 'disabled' });
      g.set(Object.keys(state.deletions).length, { state: 'deletion_pending' });
    });

    const closeSessions = (username: string, reason: CloseReason): number => {
      let n = 0;
      for (const session of [...mod.server.sessions.all]) {
        if (session.type !== 'c2s' || session.host !== mod.host || session.username !== username) continue;
        session.close(reason);
        // Destroyed now, not when the socket closes (also a hibernating SM session).
        mod.server.sessions.destroySession(session, reason, { final: true });
        n++;
      }
      return n;
    };

    const deleteNow = async (username: string): Promise<boolean> => {
      closeSessions(username, ACCOUNT_DELETED);
      const existed = await mod.server.storage.accounts.delete(mod.host, username);
      if (state.disabled[username] !== undefined || state.deletions[username] !== undefined) {
        await update((doc) => {
          delete doc.disabled[username];
          delete doc.deletions[username];
        });
      }
      if (existed) {
        changes.inc({ kind: 'deleted' });
        mod.log.info({ username }, 'account deleted');
        mod.fire('user-deleted', { host: mod.host, username });
      }
      return existed;
    };

    const api: AccountsState = {
      isDisabled: (username) => state.disabled[username] !== undefined,
      refusesLogin(username) {
        if (state.disabled[username] === undefined) return false;
        mod.log.info({ username }, 'login refused: account disabled');
        changes.inc({ kind: 'login_refused' });
        return true;
      },
      async disable(username, by, reason) {
        if (!(await mod.server.storage.accounts.exists(mod.host, username))) return false;
        await update((doc) => {
          doc.disabled[username] = { since: mod.now(), by, reason };
        });
        changes.inc({ kind: 'disabled' });
        mod.log.info({ username, by, reason }, 'account disabled');
        closeSessions(username, ACCOUNT_DISABLED);
        // XEP-0484 tokens of a disabled account are revoked (issue 17 item 4).
        await fastService(mod)?.revokeAll(username);
        return true;
      },
      async enable(username) {
        if (state.disabled[username] === undefined) return false;
        await update((doc) => {
          delete doc.disabled[username];
        });
        changes.inc({ kind: 'enabled' });
        mod.log.info({ username }, 'account enabled');
        return true;
      },
      deletionDue: (username) => state.deletions[username],
      async scheduleDeletion(username, graceMs) {
        const due = mod.now() + graceMs;
        await update((doc) => {
          doc.deletions[username] = due;
        });
        changes.inc({ kind: 'deletion_scheduled' });
        mod.log.info({ username, due: new Date(due).toISOString() }, 'account deletion scheduled');
        closeSessions(username, ACCOUNT_DELETED);
        return due;
      },
      deleteNow,
      closeSessions,
    };
    mod.provides('accounts-state', api);

    // Every login path goes through this veto (sessions.makeAuthenticated).
    // `canto user disable|enable` (src/cli/user-state.ts) through the admin socket, so the
    // running server closes the sessions and changes its state at once (each cluster worker
    // is asked: each closes its own sessions).
    const admin = mod.optional('admin-commands');
    if (admin) {
      const userArg = (args: Record<string, unknown>): string => {
        if (typeof args.user !== 'string' || args.user === '') throw new AdminError('the command needs a user');
        return args.user;
      };
      mod.onUnload(
        admin.register('account-disable', mod.host, async (args) => {
          const username = userArg(args);
          const sessions = mod.server.sessions.getUserSessions(mod.host, username).length;
          const reason = typeof args.reason === 'string' && args.reason !== '' ? args.reason : undefined;
          const exists = await api.disable(username, 'canto user disable', reason);
          return { exists, closedSessions: exists ? sessions : 0 };
        }),
      );
      mod.onUnload(
        admin.register('account-enable', mod.host, async (args) => {
          const username = userArg(args);
          return { exists: await mod.server.storage.accounts.exists(mod.host, username), changed: await api.enable(username) };
        }),
      );
    }

    // The SASL modules ask `refusesLogin` first to answer `account-disabled`; this is the backstop.
    mod.hook('pre-authenticated', ({ username }) => (api.refusesLogin(username) ? true : undefined));
    // Waiting for deletion: messages bounce as for an account that does not exist (RFC 6121
    // §8.5.2.2.1 service-unavailable) before MAM (priority 500) or offline storage see them.
    // The owner asked for the account's data to go: nothing new piles up for it, and senders
    // are told instead of their messages waiting unread; a login restores the account and
    // delivery resumes (README.md says why this and not storing them).
    const bounceWhilePending = (event: StanzaEvent): true | undefined => {
      if (event.to.local === '' || state.deletions[event.to.local] === undefined) return undefined;
      const type = event.stanza.attrs.type ?? 'normal';
      if (type !== 'error' && type !== 'headline') mod.server.router.bounce(event.origin, event.stanza, 'service-unavailable');
      return true;
    };
    mod.hook('message/bare', bounceWhilePending, PENDING_DELETION_PRIORITY);
    mod.hook('message/full', bounceWhilePending, PENDING_DELETION_PRIORITY);

    // A login during the grace period restores the account (XEP-0077 removal undone).
    mod.hook('authenticated', ({ session }) => {
      if (state.deletions[session.username] === undefined) return;
      const username = session.username;
      void update((doc) => {
        delete doc.deletions[username];
      }).then(
        () => {
          changes.inc({ kind: 'deletion_cancelled' });
          mod.log.info({ username }, 'account deletion cancelled: the owner logged in');
        },
        (err: unknown) => mod.log.error({ err, username }, 'could not cancel the account deletion'),
      );
    });

    const sweep = async (): Promise<void> => {
      const now = mod.now();
      for (const [username, due] of Object.entries(state.deletions)) {
        if (due > now) continue;
        try {
          await deleteNow(username);
        } catch (err) {
          mod.log.error({ err, username }, 'scheduled account deletion failed');
        }
      }
    };
    mod.setInterval(() => void sweep(), SWEEP_MS);
    await sweep();
  },
});
