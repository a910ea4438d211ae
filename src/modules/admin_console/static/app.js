// @ts-check
/**
 * The admin console: log in, then one view per area, chosen by the URL's fragment
 * (#dashboard, #users, …). Views call the admin API (api.js) and build the page with dom.js.
 */
import { API, ApiError, apiPath, call, setCsrfToken, whenLoggedOut } from './api.js';
import { LineChart } from './chart.js';
import { h, table, when } from './dom.js';

const POLL_MS = 3000;

/** @type {{ jid: string, csrfToken: string, hosts: string[], mucServices: string[] } | undefined} */
let session;
/** Stops the current view's timers when another view is shown. @type {Array<() => void>} */
let cleanups = [];

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const view = () => $('view');
const host = () => /** @type {HTMLSelectElement} */ ($('host')).value;

/** @param {string} text @param {boolean} [isError] */
function say(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : '';
}

/** Run an action, reporting its outcome in the status line; returns whether it succeeded. @param {() => Promise<unknown>} fn @param {string} done */
async function act(fn, done) {
  try {
    await fn();
    say(done);
    return true;
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), true);
    return false;
  }
}

// ───────────── login and logout

function showLogin() {
  session = undefined;
  setCsrfToken('');
  stopView();
  $('nav').hidden = true;
  $('who').hidden = true;
  view().hidden = true;
  $('login-view').hidden = false;
  /** @type {HTMLInputElement} */ ($('login-jid')).focus();
}

/** @param {NonNullable<typeof session>} s */
function showApp(s) {
  session = s;
  setCsrfToken(s.csrfToken);
  $('login-view').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  view().hidden = false;
  $('admin-jid').textContent = s.jid;
  const select = /** @type {HTMLSelectElement} */ ($('host'));
  const previous = select.value;
  select.replaceChildren(...s.hosts.map((name) => h('option', { value: name }, name)));
  if (s.hosts.includes(previous)) select.value = previous;
  route();
}

async function login(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  const jid = /** @type {HTMLInputElement} */ ($('login-jid')).value;
  const password = /** @type {HTMLInputElement} */ ($('login-password'));
  $('login-error').textContent = '';
  try {
    const s = await call('POST', '/admin/login', { jid, password: password.value });
    password.value = '';
    say('');
    showApp(s);
  } catch (err) {
    $('login-error').textContent = err instanceof Error ? err.message : String(err);
  }
}

async function logout() {
  await call('POST', '/admin/logout').catch(() => undefined);
  say('Logged out.');
  showLogin();
}

// ───────────── views

/** @type {Record<string, () => Promise<void> | void>} */
const VIEWS = { dashboard, users, sessions, rooms, invites, push, checks };

function stopView() {
  for (const fn of cleanups.splice(0)) fn();
}

function route() {
  if (!session) return;
  stopView();
  const name = location.hash.slice(1) in VIEWS ? location.hash.slice(1) : 'dashboard';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  view().replaceChildren();
  view().dataset.view = name;
  const fn = VIEWS[name];
  if (fn) Promise.resolve(fn()).catch((err) => say(err instanceof Error ? err.message : String(err), true));
}

/** Re-render the current view (after a change). */
function refresh() {
  route();
}

async function dashboard() {
  const status = await call('GET', `${API}/status`);
  const charts = [
    { key: 'sessions', title: 'Client sessions', format: (/** @type {number} */ v) => String(Math.round(v)) },
    { key: 'stanzas', title: 'Stanzas per second', format: (/** @type {number} */ v) => v.toFixed(1) },
    { key: 'memory', title: 'Memory (RSS)', format: (/** @type {number} */ v) => `${v.toFixed(0)} MiB` },
    { key: 'lag', title: 'Event-loop lag (p99)', format: (/** @type {number} */ v) => `${v.toFixed(1)} ms` },
  ].map((c) => {
    const canvas = /** @type {HTMLCanvasElement} */ (h('canvas', { width: 300, height: 110 }));
    const value = h('div', { className: 'value', id: `value-${c.key}` }, '…');
    return { ...c, canvas, value, chart: new LineChart(canvas, { format: c.format }), card: h('div', { className: 'card' }, h('h3', {}, c.title), value, canvas) };
  });
  view().append(
    h('h2', {}, 'Dashboard'),
    h('div', { className: 'cards' }, ...charts.map((c) => c.card)),
    h('h3', {}, 'Server'),
    h('dl', { className: 'facts' },
      h('dt', {}, 'Version'), h('dd', {}, `${status.version} (Node ${status.node})`),
      h('dt', {}, 'Started'), h('dd', {}, new Date(status.startedAt).toLocaleString()),
      h('dt', {}, 'Hosts'), h('dd', {}, status.hosts.map((/** @type {any} */ x) => `${x.host}: ${x.accounts} accounts, ${x.sessions} sessions`).join('; ')),
      h('dt', {}, 'Components'), h('dd', {}, status.components.map((/** @type {any} */ c) => `${c.domain} (${c.kind}${c.connected ? '' : ', not connected'})`).join('; ') || 'none'),
    ),
  );
  /** @type {any} */
  let previous;
  const poll = async () => {
    const s = await call('GET', '/admin/stats');
    const rate = previous ? ((s.stanzas.received + s.stanzas.sent) - (previous.stanzas.received + previous.stanzas.sent)) / Math.max(0.001, (s.time - previous.time) / 1000) : 0;
    const readings = { sessions: s.sessions.c2s, stanzas: rate, memory: s.memory.rssBytes / 1048576, lag: s.eventLoopLag.p99Ms ?? 0 };
    for (const c of charts) {
      const v = readings[/** @type {keyof typeof readings} */ (c.key)];
      c.chart.push(v);
      c.value.textContent = c.format(v);
    }
    previous = s;
  };
  await poll();
  const timer = setInterval(() => poll().catch((err) => say(err instanceof Error ? err.message : String(err), true)), POLL_MS);
  cleanups.push(() => clearInterval(timer));
}

async function users() {
  const { total, users: list } = await call('GET', apiPath('hosts', host(), 'users'));
  const username = /** @type {HTMLInputElement} */ (h('input', { id: 'new-username', required: true, autocomplete: 'off' }));
  const password = /** @type {HTMLInputElement} */ (h('input', { id: 'new-password', type: 'password', required: true, autocomplete: 'new-password' }));
  const create = h('form', { className: 'inline', id: 'create-user', onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (await act(() => call('POST', apiPath('hosts', host(), 'users'), { username: username.value, password: password.value }), `Created ${username.value}@${host()}.`)) refresh();
  } }, h('label', {}, 'Username', username), h('label', {}, 'Password', password), h('button', { type: 'submit' }, 'Create account'));
  view().append(
    h('h2', {}, `Users of ${host()} (${total})`),
    create,
    table(['Account', 'Status', ''], list, (/** @type {{ username: string, status: string }} */ u) => [
      `${u.username}@${host()}`,
      u.status,
      h('td', { className: 'actions' },
        u.status === 'disabled'
          ? h('button', { className: 'secondary', 'data-user': u.username, onclick: async () => { if (await act(() => call('POST', apiPath('hosts', host(), 'users', u.username, 'enable')), `Enabled ${u.username}.`)) refresh(); } }, 'Enable')
          : h('button', { className: 'secondary', 'data-user': u.username, onclick: async () => { if (await act(() => call('POST', apiPath('hosts', host(), 'users', u.username, 'disable'), {}), `Disabled ${u.username}.`)) refresh(); } }, 'Disable'),
        h('button', { className: 'danger', 'data-user': u.username, onclick: async () => {
          if (!confirm(`Delete ${u.username}@${host()} and all its data?`)) return;
          if (await act(() => call('DELETE', apiPath('hosts', host(), 'users', u.username)), `Deleted ${u.username}.`)) refresh();
        } }, 'Delete')),
    ], 'No accounts.'),
  );
}

async function sessions() {
  const render = async () => {
    const { sessions: list } = await call('GET', apiPath('hosts', host(), 'sessions'));
    const body = h('div', { id: 'sessions-list' }, table(['Address', 'From', 'Encrypted', 'Priority', ''], list, (/** @type {any} */ s) => [
      s.jid,
      s.ip ?? '',
      s.secure ? 'yes' : 'no',
      s.priority ?? '',
      h('td', { className: 'actions' }, h('button', { className: 'danger kick', 'data-jid': s.jid, onclick: async () => {
        const path = `${apiPath('hosts', host(), 'users', s.username, 'sessions')}?resource=${encodeURIComponent(s.resource)}`;
        if (await act(() => call('DELETE', path), `Ended the session of ${s.jid}.`)) await render();
      } }, 'Kick')),
    ], 'No client is connected.'));
    const old = document.getElementById('sessions-list');
    if (old) old.replaceWith(body);
    else view().append(body);
  };
  view().append(h('h2', {}, `Sessions on ${host()}`), h('p', { className: 'muted' }, `Refreshed every ${POLL_MS / 1000} seconds.`));
  await render();
  const timer = setInterval(() => render().catch((err) => say(err instanceof Error ? err.message : String(err), true)), POLL_MS);
  cleanups.push(() => clearInterval(timer));
}

async function rooms() {
  const services = session?.mucServices ?? [];
  view().append(h('h2', {}, 'Chat rooms'));
  if (services.length === 0) {
    view().append(h('p', { className: 'muted' }, 'No chat room service (muc) runs on this server.'));
    return;
  }
  for (const service of services) {
    const { rooms: list } = await call('GET', apiPath('rooms', service));
    const room = /** @type {HTMLInputElement} */ (h('input', { required: true }));
    const owner = /** @type {HTMLInputElement} */ (h('input', { required: true, value: session?.jid ?? '' }));
    view().append(
      h('h3', {}, service),
      h('form', { className: 'inline', onsubmit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        if (await act(() => call('POST', apiPath('rooms', service), { room: room.value, owner: owner.value, persistent: true }), `Created ${room.value}@${service}.`)) refresh();
      } }, h('label', {}, 'Room', room), h('label', {}, 'Owner', owner), h('button', { type: 'submit' }, 'Create room')),
      table(['Room', 'Name', 'Occupants', ''], list, (/** @type {any} */ r) => [
        r.jid ?? r.room ?? '',
        r.name ?? '',
        r.occupants ?? '',
        h('td', { className: 'actions' }, h('button', { className: 'danger', onclick: async () => {
          const name = String(r.jid ?? r.room ?? '').split('@')[0] ?? '';
          if (!confirm(`Destroy ${name}@${service}?`)) return;
          if (await act(() => call('DELETE', apiPath('rooms', service, name)), `Destroyed ${name}@${service}.`)) refresh();
        } }, 'Destroy')),
      ], 'No rooms.'),
    );
  }
}

async function invites() {
  const { invites: list } = await call('GET', apiPath('hosts', host(), 'invites'));
  const uses = /** @type {HTMLInputElement} */ (h('input', { id: 'invite-uses', type: 'number', min: 1, max: 10000, value: 1 }));
  const expires = /** @type {HTMLInputElement} */ (h('input', { id: 'invite-expires', value: '7d', size: 6 }));
  view().append(
    h('h2', {}, `Invites for ${host()}`),
    h('form', { className: 'inline', id: 'create-invite', onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      if (await act(() => call('POST', apiPath('hosts', host(), 'invites'), { uses: Number(uses.value), expires: expires.value }), 'Invite created.')) refresh();
    } }, h('label', {}, 'Accounts it may create', uses), h('label', {}, 'Valid for', expires), h('button', { type: 'submit' }, 'Create invite')),
    h('div', { id: 'invites-list' }, table(['Link', 'Expires', 'Used', 'Made by', ''], list, (/** @type {any} */ i) => [
      h('a', { href: i.url, className: 'invite-url', 'data-token': i.token, rel: 'noreferrer' }, i.url),
      when(i.expires),
      `${i.usedBy.length} of ${i.maxUses}`,
      i.inviter ? `${i.inviter} (${i.via})` : i.via,
      h('td', { className: 'actions' }, h('button', { className: 'danger', 'data-token': i.token, onclick: async () => {
        if (await act(() => call('DELETE', apiPath('hosts', host(), 'invites', i.token)), 'Invite revoked.')) refresh();
      } }, 'Revoke')),
    ], 'No invites.')),
  );
}

function push() {
  const username = /** @type {HTMLInputElement} */ (h('input', { required: true, autocomplete: 'off' }));
  const out = h('div', {});
  view().append(
    h('h2', {}, 'Push trace'),
    h('p', { className: 'muted' }, 'The last push decisions for an account and its push registrations (XEP-0357).'),
    h('form', { className: 'inline', onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      try {
        const trace = await call('GET', apiPath('hosts', host(), 'users', username.value, 'push-trace'));
        say('');
        out.replaceChildren(
          h('h3', {}, `Registrations of ${trace.account}`),
          table(['App server', 'Node', 'Resource', 'Since', 'Failures', 'Session'], trace.registrations, (/** @type {any} */ r) => [r.appServer, r.node, r.resource, when(r.enabledAt), r.failures, r.session], 'No push registrations.'),
          h('h3', {}, 'Decisions, newest last'),
          h('pre', {}, trace.entries.length === 0 ? 'None yet.' : trace.entries.map((/** @type {unknown} */ x) => JSON.stringify(x)).join('\n')),
        );
      } catch (err) {
        out.replaceChildren();
        say(err instanceof Error ? err.message : String(err), true);
      }
    } }, h('label', {}, `Account on ${host()}`, username), h('button', { type: 'submit' }, 'Show')),
    out,
  );
}

async function checks() {
  const result = await call('GET', `${API}/checks`);
  view().append(
    h('h2', {}, 'Configuration checks'),
    h('p', { className: result.ok ? 'ok' : 'error' }, result.ok ? 'Everything checked is fine.' : 'Something needs attention.'),
    table(['Check', 'Status', 'Detail'], result.checks, (/** @type {any} */ c) => [c.name, h('span', { className: c.status === 'ok' ? 'ok' : c.status }, c.status), c.detail]),
  );
}

// ───────────── start

async function start() {
  $('login-form').addEventListener('submit', (e) => void login(/** @type {SubmitEvent} */ (e)));
  $('logout').addEventListener('click', () => void logout());
  $('host').addEventListener('change', () => route());
  window.addEventListener('hashchange', () => route());
  whenLoggedOut(() => {
    if (!session) return;
    say('Your session has ended: log in again.', true);
    showLogin();
  });
  try {
    showApp(await call('GET', '/admin/session'));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) say(err instanceof Error ? err.message : String(err), true);
    showLogin();
  }
}

void start();
