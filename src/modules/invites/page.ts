/**
 * The invite landing page's HTML: no script at all, one style block allowed by its hash in the
 * Content-Security-Policy (no 'unsafe-inline'), every interpolated value escaped. The clients
 * offered depend on the visitor's platform, read from the User-Agent.
 */
import { createHash } from 'node:crypto';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.5;color:#222}'
  + 'h1{font-size:1.5em}a.button,button{display:inline-block;padding:.5em 1em;border-radius:.3em;background:#2a6;color:#fff;text-decoration:none;border:0;font-size:1em}'
  + 'label{display:block;margin-top:.8em}input{font-size:1em;padding:.3em;width:100%;box-sizing:border-box}.error{color:#b00}.muted{color:#666;font-size:.9em}';

/** The CSP of every page: nothing but this style, forms posting here, no framing, no referrer leak of the token. */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
};

export interface Client {
  name: string;
  url: string;
  platforms: string;
}

const CLIENTS: Record<string, Client[]> = {
  android: [{ name: 'Conversations', url: 'https://conversations.im/', platforms: 'Android' }],
  ios: [{ name: 'Monal', url: 'https://monal-im.org/', platforms: 'iPhone, iPad and Mac' }],
  mac: [{ name: 'Monal', url: 'https://monal-im.org/', platforms: 'iPhone, iPad and Mac' }],
  linux: [{ name: 'Dino', url: 'https://dino.im/', platforms: 'Linux' }, { name: 'Gajim', url: 'https://gajim.org/', platforms: 'Linux and Windows' }],
  windows: [{ name: 'Gajim', url: 'https://gajim.org/', platforms: 'Windows and Linux' }],
};

/** The visitor's platform from the User-Agent (a hint only: every client is listed below it too). */
export function platformOf(userAgent: string | undefined): keyof typeof CLIENTS | 'other' {
  const ua = userAgent ?? '';
  if (/Android/i.test(ua)) return 'android';
  if (/iPhone|iPad|iPod/i.test(ua)) return 'ios';
  if (/Macintosh|Mac OS X/i.test(ua)) return 'mac';
  if (/Windows/i.test(ua)) return 'windows';
  if (/Linux|X11|CrOS/i.test(ua)) return 'linux';
  return 'other';
}

export function clientsFor(userAgent: string | undefined): { suggested: Client[]; others: Client[] } {
  const platform = platformOf(userAgent);
  const suggested = platform === 'other' ? [] : (CLIENTS[platform] ?? []);
  const seen = new Set(suggested.map((c) => c.name));
  const others: Client[] = [];
  for (const list of Object.values(CLIENTS)) for (const c of list) if (!seen.has(c.name)) { seen.add(c.name); others.push(c); }
  return { suggested, others };
}

function layout(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export interface InvitePageData {
  host: string;
  inviter?: string;
  uri: string;
  username?: string;
  csrf: string;
  userAgent: string | undefined;
  error?: string;
  webRegistration: boolean;
}

export function invitePage(d: InvitePageData): string {
  const who = d.inviter !== undefined ? `${escapeHtml(d.inviter)} invites you` : 'You are invited';
  const { suggested, others } = clientsFor(d.userAgent);
  const link = (c: Client) => `<li><a href="${escapeHtml(c.url)}">${escapeHtml(c.name)}</a> <span class="muted">(${escapeHtml(c.platforms)})</span></li>`;
  const form = d.webRegistration
    ? `<h2>Or create your account here</h2>${d.error ? `<p class="error" id="error">${escapeHtml(d.error)}</p>` : ''}`
      + `<form method="post"><input type="hidden" name="csrf" value="${escapeHtml(d.csrf)}">`
      + `<label for="username">Username</label><input id="username" name="username" required autocomplete="username" value="${escapeHtml(d.username ?? '')}"${d.username ? ' readonly' : ''}>`
      + `<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="new-password">`
      + `<label for="password2">Password again</label><input id="password2" name="password2" type="password" required autocomplete="new-password">`
      + `<p><button type="submit" id="register">Create account on ${escapeHtml(d.host)}</button></p></form>`
    : '';
  return layout(`Invite to ${d.host}`, `<h1>${who} to chat on ${escapeHtml(d.host)}</h1>`
    + `<p>${escapeHtml(d.host)} is a chat server using XMPP, an open standard: install an app, then open this invite with it.</p>`
    + (suggested.length ? `<h2>Recommended for your device</h2><ul>${suggested.map(link).join('')}</ul>` : '')
    + `<p><a class="button" id="open-app" href="${escapeHtml(d.uri)}">Open the invite in your app</a></p>`
    + `<details><summary>Other apps</summary><ul>${others.map(link).join('')}</ul></details>${form}`);
}

export function donePage(jid: string, host: string, uri: string): string {
  return layout('Account created', `<h1>Welcome!</h1><p id="created">Your account <strong id="jid">${escapeHtml(jid)}</strong> has been created.</p>`
    + `<p>Sign in with this address and your password in any XMPP app. <a href="${escapeHtml(uri)}">Open it in your app</a>.</p>`
    + `<p class="muted">${escapeHtml(host)}</p>`);
}

export function problemPage(text: string): string {
  return layout('Invite not valid', `<h1>This invite cannot be used</h1><p id="problem">${escapeHtml(text)}</p><p>Ask the person who invited you for a new one.</p>`);
}
