/**
 * Invites: XEP-0379 pre-authenticated roster subscriptions, XEP-0401 easy onboarding (ad-hoc
 * commands, xmpp: URIs with preauth), XEP-0445 registration with a token (through the
 * register module), the `/invite/<token>` landing page with registration in the browser, and
 * the store `canto invite` writes. README.md in this folder; operator page docs/invites.md.
 */
import { AdminError } from '../adminsocket/index.js';
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import { NS_INVITE } from './api.js';
import { inviteCommands } from './commands.js';
import { hookPreauth } from './preauth.js';
import { makeInvitesService } from './service.js';
import { serveInvitePage } from './web.js';

export default defineModule({
  name: 'invites',
  description: 'XEP-0379/0401/0445 invites, and the invite landing page',
  // http: a global module, loaded first, so the landing page can be mounted (it listens only where [http] has ports).
  depends: ['adhoc', 'roster', 'http'],
  options: z.object({
    /** Every user may invite; otherwise only admins and accounts whose invite allowed it. */
    allow_user_invites: z.boolean().default(false),
    default_expiry: duration('7 days', { min: 60_000 }),
    /** The landing page lets a visitor create the account in the browser. */
    web_registration: z.boolean().default(true),
    web_registration_throttle_max: z.number().int().min(0).default(5),
    web_registration_throttle_period: duration('1 hour'),
  }),
  async setup(mod) {
    const o = mod.options;
    const publicUrl = mod.server.config.http.public_url ?? `https://${mod.host}`;
    const invites = await makeInvitesService(mod, { allowUserInvites: o.allow_user_invites, defaultExpiry: o.default_expiry, publicUrl });
    mod.provides('invites', invites);
    mod.addFeature(NS_INVITE);
    hookPreauth(mod);
    // `canto invite create` asks a running server through the admin socket (src/cli/invites.ts),
    // so its invites are counted (invites_created_total{via="cli"}) and logged like the others.
    const admin = mod.optional('admin-commands');
    if (admin) {
      mod.onUnload(
        admin.register('invite-create', mod.host, async (args) => {
          const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
          const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
          const inviter = str(args.inviter);
          if (inviter !== undefined && !(await mod.server.storage.accounts.exists(mod.host, inviter))) throw new AdminError(`${inviter}@${mod.host}: no such account`);
          const invite = await invites.create({ expiresInMs: num(args.expiresInMs), maxUses: num(args.maxUses), group: str(args.group), mayInvite: args.mayInvite === true, inviter, via: 'cli' });
          return { invite, uri: invites.uri(invite), url: invites.landingUrl(invite) };
        }),
      );
    }
    const adhoc = mod.require('adhoc');
    for (const c of inviteCommands(mod, invites)) mod.onUnload(adhoc.register(c));
    await serveInvitePage(mod, invites, {
      webRegistration: o.web_registration,
      throttleMax: o.web_registration_throttle_max,
      throttlePeriod: o.web_registration_throttle_period,
    });
  },
});
