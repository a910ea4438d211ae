/** Real clients log in the ways issue 3 promises: STARTTLS and direct TLS, SCRAM-SHA-1 and -256. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, errorCondition } from '../helpers/xmpp-client.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.c2s.direct_tls_ports = [0];
  });
  await createAccount(ts, 'alice', 'wonderland');
});
after(async () => {
  await ts.stop();
});

for (const mechanism of ['SCRAM-SHA-1', 'SCRAM-SHA-256'] as const) {
  for (const transport of ['starttls', 'direct-tls'] as const) {
    test(`@xmpp/client logs in with ${mechanism} over ${transport}, binds, and messages itself`, async () => {
      const service = transport === 'starttls' ? `xmpp://127.0.0.1:${ts.c2sPort}` : `xmpps://127.0.0.1:${ts.server.port('c2s_direct_tls')}`;
      const c = await loginClient(ts, 'alice', 'wonderland', `r-${mechanism}-${transport}`, { mechanism, service });
      try {
        assert.equal(c.jid, `alice@localhost/r-${mechanism}-${transport}`);
        await c.send(xml('message', { to: c.jid, type: 'chat', id: 'self1' }, xml('body', {}, 'hello me')));
        const m = await c.waitFor((s) => s.is('message') && s.attrs.id === 'self1');
        assert.equal(m.attrs.type, 'chat', m.toString());
        assert.equal(m.getChildText('body'), 'hello me');
        assert.equal(m.attrs.from, c.jid);
        const err = await c.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'urn:example:nothing' }))).catch((e: { stanza?: never }) => e.stanza);
        assert.equal(errorCondition(err), 'service-unavailable');
      } finally {
        await c.stop();
      }
    });
  }
}

test('a wrong password is not-authorized', async () => {
  await assert.rejects(loginClient(ts, 'alice', 'nope', 'x'), (err: { condition?: string }) => err.condition === 'not-authorized');
});
