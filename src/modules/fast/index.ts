/**
 * XEP-0484 FAST: tokens a client asks for at a SASL2 login (`<request-token mechanism/>`) and
 * uses for the next logins, in one round trip, with HT-SHA-256-NONE/-ENDP/-EXPR. The SASL2
 * module runs the exchange through the 'fast-sasl2' service; users and admins see and revoke
 * tokens through the 'fast' service (api.ts). Records, rotation, replay and revocation:
 * tokens.ts; the mechanism: mechanism.ts and ht.ts.
 *
 * Options ([modules.fast]): token_lifetime.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { duration } from '../../core/option-schemas.js';
import type { C2SSession } from '../../core/session.js';
import { Element } from '../../xml/element.js';
import type { SaslOfferContext } from '../../sasl/registry.js';
import type { AccountCredentials } from '../../storage/types.js';
import type { FastService } from './api.js';
import { FAST_MECHANISMS, bindingOf, isFastMechanism, type FastMechanism } from './ht.js';
import { FastServer } from './mechanism.js';
import { TokenStore, type TokenRecord } from './tokens.js';

export const NS_FAST = 'urn:xmpp:fast:0';

/** What the SASL2 module asks of FAST. */
export interface FastSasl2 {
  /** The FAST mechanisms this stream can run (the channel-bound ones need their binding). */
  mechanisms(ctx: SaslOfferContext): FastMechanism[];
  /** An exchange for `<authenticate mechanism='HT-…'>`, or undefined when `name` is not one offered here. */
  start(name: string, ctx: SaslOfferContext, userAgentId: string | undefined, fast: Element | undefined): FastServer | undefined;
  /**
   * After a successful login: rotate the token a FAST login used, or issue the one a
   * `<request-token/>` asked for. Returns the `<token/>` for <success/>, if any.
   */
  /** A FAST login failed (for the metrics; the throttle and log are the SASL2 module's). */
  failed(): void;
  afterSuccess(session: C2SSession, credentials: AccountCredentials | undefined, used: FastServer | undefined, request: Element | undefined, fast: Element | undefined): Promise<Element | undefined>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'fast-sasl2': FastSasl2;
  }
}

/** XEP-0484 count: a non-negative integer; anything else is treated as absent. */
function parseCount(fast: Element | undefined): number | undefined {
  const raw = fast?.attr('count');
  if (raw === undefined || !/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

export default defineModule({
  name: 'fast',
  description: 'XEP-0484 FAST authentication tokens (HT-SHA-256-NONE/ENDP/EXPR)',
  depends: ['saslauth'],
  options: z.object({
    /** How long a token works after it was issued (each use issues a fresh one). */
    token_lifetime: duration('30 days', { min: 60_000 }),
  }),
  setup(mod) {
    const lifetime = mod.options.token_lifetime;
    const store = new TokenStore(mod.map<TokenRecord>('fast_tokens'), lifetime, () => mod.now());
    const auth = mod.require('sasl-auth');
    const metrics = {
      issued: mod.measure.counter('fast_tokens_issued_total', 'FAST tokens issued, by why (requested at login, rotated at a FAST login)', ['reason']),
      used: mod.measure.counter('fast_tokens_used_total', 'FAST logins, by result', ['result']),
      revoked: mod.measure.counter('fast_tokens_revoked_total', 'FAST tokens revoked (by the user, an admin, or on password change)'),
    };

    const tokenElement = (token: string, expires: number) => new Element('token', { xmlns: NS_FAST, token, expiry: new Date(expires).toISOString() });

    const sasl2: FastSasl2 = {
      // Only on encrypted streams: an HT-*-NONE message seen in the clear could be replayed.
      mechanisms: (ctx) => !ctx.secure ? [] : FAST_MECHANISMS.filter((m) => {
        const type = bindingOf(m);
        return type === undefined || type in ctx.bindings;
      }),
      start(name, ctx, userAgentId, fast) {
        if (!isFastMechanism(name) || !sasl2.mechanisms(ctx).includes(name)) return undefined;
        return new FastServer({ mechanism: name, store, userAgentId, count: parseCount(fast), bindings: ctx.bindings, credentials: (u) => auth.credentials(u), now: () => mod.now() });
      },
      failed: () => metrics.used.inc({ result: 'failure' }),
      async afterSuccess(session, credentials, used, request, fast) {
        const invalidate = fast?.attr('invalidate') === 'true' || fast?.attr('invalidate') === '1';
        if (used?.verified) {
          const v = used.verified;
          metrics.used.inc({ result: 'success' });
          const next = await store.rotate(v.username, v.id, v.usedKey, v.count, invalidate);
          if (invalidate) {
            metrics.revoked.inc();
            return undefined;
          }
          if (!next) return undefined;
          metrics.issued.inc({ reason: 'rotated' });
          return tokenElement(next.token, next.expires);
        }
        const wanted = request?.attr('mechanism');
        const ua = session.userAgent;
        if (wanted === undefined || !isFastMechanism(wanted) || ua === undefined || credentials === undefined) return undefined;
        const issued = await store.issue(session.username, ua, wanted, credentials);
        metrics.issued.inc({ reason: 'requested' });
        session.log.info({ mechanism: wanted }, 'FAST token issued');
        return tokenElement(issued.token, issued.expires);
      },
    };
    mod.provides('fast-sasl2', sasl2);

    const revoke = async (username: string, id?: string) => {
      const n = await store.revoke(username, id);
      if (n > 0) {
        metrics.revoked.inc(undefined, n);
        mod.log.info({ username, id, revoked: n }, 'FAST tokens revoked');
      }
      return n;
    };
    const api: FastService = {
      listTokens: (username) => store.list(username),
      revoke,
      revokeAll: (username) => revoke(username),
    };
    mod.provides('fast', api);
  },
});
