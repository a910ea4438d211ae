/**
 * The invite landing page, `/invite/<token>` on the HTTP server: GET explains the invite and
 * offers apps for the visitor's platform; POST (a plain HTML form, no script) creates the
 * account with the invite.
 *
 * CSRF: a double-submitted token. GET sets a random nonce in a SameSite=Strict, HttpOnly
 * cookie and puts HMAC(secret, invite token + nonce) in the form; POST needs both to match, and
 * an Origin header, when the browser sends one, equal to the page's own origin. A page on
 * another site can neither read the cookie nor make the browser send it with its POST.
 * POSTs are rate limited per client address (the register module's sliding-window throttle).
 *
 * The route is server-wide (the http module is global) and the invites are per host: each host
 * with the module adds itself to `hosts`; the first mounts the route, the last unmounts it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleApi } from '../../core/modules.js';
import { sendText } from '../../net/http.js';
import type { RouteContext } from '../../net/http-router.js';
import { RegistrationThrottle } from '../register/throttle.js';
import type { InvitesService } from './api.js';
import { donePage, invitePage, PAGE_HEADERS, problemPage } from './page.js';
import { TOKEN_SHAPE } from './store.js';

interface HostPage {
  host: string;
  invites: InvitesService;
  secret: Buffer;
  throttle: RegistrationThrottle;
  webRegistration: boolean;
  mod: ModuleApi;
}

/** The hosts served on one HTTP server (in-process test servers each have their own). */
interface Mount {
  hosts: Map<string, HostPage>;
  unmount: () => void;
}
const mounts = new WeakMap<object, Mount>();

const COOKIE = 'canto_invite';
const MAX_FORM_BYTES = 8 * 1024;

function mac(secret: Buffer, token: string, nonce: string): string {
  return createHmac('sha256', secret).update(`${token}\u0000${nonce}`).digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === COOKIE && v !== undefined && /^[A-Za-z0-9_-]{16,64}$/.test(v)) return v;
  }
  return undefined;
}

function html(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  sendText(res, status, body, 'text/html; charset=utf-8', { ...PAGE_HEADERS, ...extra });
}

/** The host whose store has this token, and the invite's state there. */
async function find(hosts: Map<string, HostPage>, token: string): Promise<{ page: HostPage; check: Awaited<ReturnType<InvitesService['check']>> } | undefined> {
  let first: { page: HostPage; check: Awaited<ReturnType<InvitesService['check']>> } | undefined;
  for (const page of hosts.values()) {
    const check = await page.invites.check(token);
    if (check.ok || check.why !== 'unknown') return { page, check };
    first ??= { page, check };
  }
  return first;
}

const PROBLEM_TEXT: Record<string, string> = {
  unknown: 'This invite does not exist.',
  expired: 'This invite has expired.',
  revoked: 'This invite has been withdrawn.',
  used: 'This invite has already been used.',
};

async function handle(hosts: Map<string, HostPage>, req: IncomingMessage, res: ServerResponse, ctx: RouteContext<undefined, Buffer>): Promise<void> {
  const token = ctx.params.token ?? '';
  const found = TOKEN_SHAPE.test(token) ? await find(hosts, token) : undefined;
  if (!found) return html(res, 404, problemPage(PROBLEM_TEXT.unknown as string));
  const { page, check } = found;
  if (!check.ok) return html(res, check.why === 'unknown' ? 404 : 410, problemPage(PROBLEM_TEXT[check.why] ?? ''));
  const invite = check.invite;
  const secure = ctx.scheme === 'https';
  const render = (status: number, error?: string, username?: string): void => {
    const nonce = randomBytes(18).toString('base64url');
    const cookie = `${COOKIE}=${nonce}; Path=/invite/; HttpOnly; SameSite=Strict; Max-Age=3600${secure ? '; Secure' : ''}`;
    html(res, status, invitePage({
      host: page.host,
      inviter: invite.inviter === undefined ? undefined : `${invite.inviter}@${page.host}`,
      uri: page.invites.uri(invite),
      username: username ?? invite.username,
      csrf: mac(page.secret, token, nonce),
      userAgent: req.headers['user-agent'],
      error,
      webRegistration: page.webRegistration,
    }), { 'Set-Cookie': cookie });
  };
  if (req.method !== 'POST') return render(200);

  if (!page.webRegistration) return html(res, 405, problemPage('Accounts are not created on this page: use an app.'), { Allow: 'GET, HEAD' });
  const origin = req.headers.origin;
  const ownOrigin = ctx.hostHeader !== undefined ? `${ctx.scheme}://${ctx.hostHeader}` : undefined;
  const form = new URLSearchParams(ctx.body.toString('utf8'));
  const nonce = cookieOf(req);
  const csrf = form.get('csrf') ?? '';
  if ((origin !== undefined && origin !== 'null' && origin !== ownOrigin) || nonce === undefined || !sameText(csrf, mac(page.secret, token, nonce))) {
    page.mod.log.info({ ip: ctx.ip }, 'invite page: form refused (CSRF check)');
    return html(res, 403, problemPage('The form expired or did not come from this page: reload it and try again.'));
  }
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  if (password !== (form.get('password2') ?? '')) return render(400, 'The two passwords differ.', username);
  const giveBack = page.throttle.take(ctx.ip);
  if (!giveBack) return render(429, 'Too many accounts created from your address: try again later.', username);
  const outcome = await page.invites.register(token, username, password, ctx.ip, 'web');
  if (!outcome.ok) {
    giveBack();
    return render(outcome.why === 'conflict' ? 409 : 400, outcome.text, username);
  }
  const jid = `${outcome.username}@${page.host}`;
  html(res, 201, donePage(jid, page.host, `xmpp:${jid}`), { 'Set-Cookie': `${COOKIE}=; Path=/invite/; Max-Age=0` });
}

export interface WebOptions {
  webRegistration: boolean;
  throttleMax: number;
  throttlePeriod: number;
}

/** Add this host's invites to the landing page (mounting it with the first host). */
export async function serveInvitePage(mod: ModuleApi, invites: InvitesService, options: WebOptions): Promise<void> {
  const http = mod.optional('http');
  if (!http) {
    mod.log.debug('no HTTP server: the invite landing page is not served');
    return;
  }
  // A per-host secret kept in the store, so every cluster worker checks the same forms.
  const secret = await mod.keyval<string>('invite_secret').update('', (current) => current ?? randomBytes(32).toString('base64'));
  let mount = mounts.get(http);
  if (!mount) {
    const hosts = new Map<string, HostPage>();
    mount = { hosts, unmount: http.route({ path: '/invite/:token', methods: ['GET', 'POST'], maxBodyBytes: MAX_FORM_BYTES, handler: (req, res, ctx) => handle(hosts, req, res, ctx) }) };
    mounts.set(http, mount);
  }
  const current = mount;
  current.hosts.set(mod.host, {
    host: mod.host,
    invites,
    secret: Buffer.from(secret ?? '', 'base64'),
    throttle: new RegistrationThrottle({ max: options.throttleMax, periodMs: options.throttlePeriod, now: () => mod.now() }),
    webRegistration: options.webRegistration,
    mod,
  });
  mod.onUnload(() => {
    current.hosts.delete(mod.host);
    if (current.hosts.size === 0) {
      current.unmount();
      mounts.delete(http);
    }
  });
}
