/**
 * Internal components: a `[[component]]` with `module = "echo"` loads a test module for the
 * component's domain; a real client's stanzas reach it as events on the component's bus and
 * what it sends with mod.send() comes back to the client. Unhandled stanzas, a throwing
 * handler, a module that does not exist, and unloading at stop.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import { createAccount, errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { defineModule } from '../../src/core/modules.js';
import { builtinModules } from '../../src/modules/index.js';
import { message, presence, reply } from '../../src/xml/stanza.js';
import { waitFor } from '../../src/testing/index.js';

const ECHO = 'echo.localhost';
const NS_ECHO = 'urn:test:echo';

/** What the echo module saw, for assertions. */
const seen = { hosts: [] as string[], unloaded: 0, stored: 0 };

/** A minimal internal component: echoes messages, answers one iq, answers presence. */
const echoModule = defineModule({
  name: 'echo',
  description: 'test echo component',
  setup(mod) {
    seen.hosts.push(mod.host);
    const counts = mod.keyval<number>('echoes');
    const echo = ({ stanza, from, to }: { stanza: import('../../src/xml/element.js').Element; from: { full: string }; to: { full: string } }) => {
      const out = message({ from: to.full, to: from.full, type: stanza.attrs.type, id: stanza.attrs.id });
      out.c('body').t(`echo: ${stanza.getChildText('body') ?? ''}`);
      mod.send(out);
      counts
        .get(from.full)
        .then((n) => counts.set(from.full, (n ?? 0) + 1))
        .then(() => seen.stored++)
        .catch(() => {});
      return true;
    };
    mod.hook('message/bare', echo);
    mod.hook('message/host', echo);
    mod.hook('message/full', () => {
      throw new Error('this handler is broken on purpose');
    });
    mod.hookIq('get', 'host', NS_ECHO, 'query', ({ stanza }) => {
      const r = reply(stanza);
      r.c('query', { xmlns: NS_ECHO }).c('host').t(mod.host);
      mod.send(r);
      return true;
    });
    mod.hook('presence/bare', ({ from, to, stanza }) => {
      if (stanza.attrs.type === undefined) mod.send(presence({ from: to.full, to: from.full }));
      return true;
    });
    mod.onUnload(() => {
      seen.unloaded++;
    });
  },
});

let ts: TestServer;
let romeo: LoggedInClient;

before(async () => {
  const modules = new Map([...builtinModules, [echoModule.name, echoModule]]);
  ts = await startTestServer(
    (config) => {
      config.component = [
        { domain: ECHO, module: 'echo' },
        { domain: 'ghost.localhost', module: 'ech0' },
      ];
    },
    { modules },
  );
  await createAccount(ts, 'romeo', 'pw');
  romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
});
after(async () => {
  await romeo.stop();
  await ts.stop();
});

test('the module is loaded once, for the component domain, and no listener is opened', () => {
  assert.deepEqual(seen.hosts, [ECHO]);
  assert.equal(ts.server.components.isAvailable(ECHO), true);
  assert.throws(() => ts.server.port('component'), /no component listener/);
  assert.equal(ts.server.hosts.has(ECHO), false);
});

test('messages to the component reach its handlers and its replies reach the user', async () => {
  await romeo.send(xml('message', { to: `room@${ECHO}`, type: 'chat', id: 'e1' }, xml('body', {}, 'hi')));
  const back = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'e1');
  assert.equal(back.attrs.from, `room@${ECHO}`);
  assert.equal(back.attrs.type, 'chat');
  assert.equal(back.getChildText('body'), 'echo: hi');

  await romeo.send(xml('message', { to: ECHO, id: 'e2' }, xml('body', {}, 'to the domain')));
  const back2 = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'e2');
  assert.equal(back2.attrs.from, ECHO);
  assert.equal(back2.getChildText('body'), 'echo: to the domain');

  // The module's stores are the component domain's.
  await waitFor(() => seen.stored >= 2, { timeoutMs: 1000, message: 'both echoes stored' });
  assert.equal(await ts.server.storage.keyval<number>(ECHO, 'echoes').get(romeo.jid), 2);
});

test('iq handlers on the component bus answer; an unhandled iq is service-unavailable', async () => {
  const result = await romeo.iq(xml('iq', { type: 'get', to: ECHO, id: 'q1' }, xml('query', { xmlns: NS_ECHO })));
  assert.equal(result.attrs.from, ECHO);
  assert.equal(result.getChild('query', NS_ECHO)?.getChildText('host'), ECHO);
  await assert.rejects(
    romeo.iq(xml('iq', { type: 'get', to: ECHO, id: 'q2' }, xml('query', { xmlns: 'jabber:iq:version' }))),
    (err: Error & { stanza?: XElement }) => errorCondition(err.stanza) === 'service-unavailable',
  );
});

test('presence reaches the component; its presence reaches the user', async () => {
  await romeo.send(xml('presence', { to: `room@${ECHO}` }));
  const p = await romeo.waitFor((s) => s.is('presence') && s.attrs.from === `room@${ECHO}`);
  assert.equal(p.attrs.type, undefined);
});

test('a throwing handler is internal-server-error for the sender', async () => {
  await romeo.send(xml('message', { to: `room@${ECHO}/nick`, type: 'chat', id: 'x1' }, xml('body', {}, 'boom')));
  const err = await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'x1');
  assert.equal(err.attrs.type, 'error');
  assert.equal(errorCondition(err), 'internal-server-error');
});

test('a component whose module does not exist answers service-unavailable', async () => {
  assert.equal(ts.server.components.isAvailable('ghost.localhost'), false);
  await assert.rejects(
    romeo.iq(xml('iq', { type: 'get', to: 'ghost.localhost', id: 'g1' }, xml('query', { xmlns: NS_ECHO }))),
    (err: Error & { stanza?: XElement }) => errorCondition(err.stanza) === 'service-unavailable',
  );
});

test('clients cannot log in to a component domain', async () => {
  const r = await RawClient.connect(ts.c2sPort);
  try {
    r.send(clientHeader(ECHO));
    await r.waitFor(/<\/stream:stream>/);
    assert.match(r.received, /<host-unknown /);
  } finally {
    r.close();
  }
});

test('the component module is unloaded when the server stops', async () => {
  const before = seen.unloaded;
  const modules = new Map([...builtinModules, [echoModule.name, echoModule]]);
  const other = await startTestServer((config) => {
    config.component = [{ domain: 'echo2.localhost', module: 'echo' }];
  }, { modules });
  assert.equal(other.server.components.isAvailable('echo2.localhost'), true);
  await other.stop();
  assert.equal(seen.unloaded, before + 1);
  assert.equal(other.server.components.isAvailable('echo2.localhost'), false);
});
