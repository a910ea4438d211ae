/**
 * The real server on `[storage] driver = "postgres"` against a private PostgreSQL, driven by
 * real @xmpp/client clients: accounts made by `canto adduser` and by in-band registration, login, roster, an offline
 * message, a MAM query; `canto check` and `canto start` against a reachable and an unreachable
 * database; and PostgreSQL stopped mid-run: logins fail with SASL temporary-auth-failure (the
 * server does not crash), and succeed again once it is back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';
import { freePort, skipWithoutPostgres, startPostgres, type PostgresInstance } from '../helpers/postgres.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { RawTlsClient } from '../helpers/scram-client.js';

const NS_MAM = 'urn:xmpp:mam:2';
const NS_RSM = 'http://jabber.org/protocol/rsm';
const skip = skipWithoutPostgres();

function writeConfig(dir: string, storage: string): string {
  const file = join(dir, 'canto.toml');
  writeFileSync(
    file,
    `data_dir = "data"\nlog_level = "warn"\n\n[storage]\n${storage}\n\n[c2s]\ninterfaces = ["127.0.0.1"]\nports = [0]\ndirect_tls_ports = []\n\n` +
      `[s2s]\nports = []\n\n[component_listener]\nports = []\n\n[http]\nports = []\ntls_ports = []\n\n[[virtualhost]]\ndomain = "localhost"\n`,
  );
  return file;
}

describe('the server on PostgreSQL', { skip }, () => {
  let pgi: PostgresInstance;
  let url: string;
  let ts: TestServer;
  let cfg: string;
  const clients: LoggedInClient[] = [];
  const login = async (user: string, resource: string) => {
    const c = await loginClient(ts, user, 'pw-' + user, resource);
    clients.push(c);
    return c;
  };

  before(async () => {
    pgi = await startPostgres();
    url = await pgi.createDatabase('canto');
    cfg = writeConfig(tempDir(), `driver = "postgres"\nurl = "${url}"\npool_size = 4\nconnect_timeout = "3s"`);
    for (const user of ['romeo', 'juliet']) {
      const r = await runCanto(['adduser', `${user}@localhost`, '--password', `pw-${user}`, '--config', cfg]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    ts = await startTestServer((c) => {
      c.storage = { driver: 'postgres', url, pool_size: 4, connect_timeout: 3000 };
      c.modules_enabled = [...new Set([...c.modules_enabled, 'register'])];
      const vh = c.virtualhost[0];
      if (vh) vh.allow_registration = true;
    });
  });
  after(async () => {
    for (const c of clients) await c.stop();
    await ts?.stop();
    await pgi?.stop();
  });

  it('canto check connects and reports the schema; an unreachable database is an error with its code', async () => {
    const ok = await runCanto(['check', '--no-dns', '--config', cfg]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok +storage: PostgreSQL 15\\.[^\\n]* at 127\\.0\\.0\\.1:${pgi.port}/canto is reachable; schema version \\d+ \\(current\\)`));
    const port = await freePort();
    const down = writeConfig(tempDir(), `driver = "postgres"\nurl = "postgres://canto:secret@127.0.0.1:${port}/canto"`);
    const bad = await runCanto(['check', '--no-dns', '--config', down]);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, new RegExp(`ERROR storage: could not connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/canto: .*ECONNREFUSED.*\\(CANTO_ERR_STORAGE_UNAVAILABLE\\)`));
    assert.doesNotMatch(bad.stdout, /secret/);
    const start = await runCanto(['start', '--config', down]);
    assert.equal(start.code, 1, start.stdout + start.stderr);
    assert.match(start.stdout + start.stderr, /CANTO_ERR_STORAGE_UNAVAILABLE/);
    assert.match(start.stdout + start.stderr, /could not connect to PostgreSQL/);
  });

  it('registers an account in-band (XEP-0077) into PostgreSQL, and it logs in', async () => {
    const raw = await RawTlsClient.connect(ts.c2sPort);
    try {
      await raw.open();
      const features = await raw.startTls();
      assert.match(features, /iq-register/);
      raw.send(`<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>mercutio</username><password>pw-mercutio</password></query></iq>`);
      const reply = (await raw.next(/<iq\b[^>]*\bid=["']reg1["'][^>]*?(?:\/>|>[\s\S]*?<\/iq>)/))[0];
      assert.match(reply, /type=["']result["']/, reply);
    } finally {
      raw.close();
    }
    assert.equal(await ts.server.storage.accounts.exists('localhost', 'mercutio'), true);
    const c = await login('mercutio', 'r1');
    assert.equal(c.jid, 'mercutio@localhost/r1');
  });

  it('logs in, keeps the roster, stores an offline message and answers a MAM query', async () => {
    const romeo = await login('romeo', 'phone');
    await romeo.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'juliet@localhost', name: 'Juliet' }))));
    await romeo.send(xml('presence'));
    // juliet is offline: the message waits in PostgreSQL.
    await romeo.send(xml('message', { to: 'juliet@localhost', type: 'chat', id: 'm1' }, xml('body', {}, 'wherefore art thou')));
    // The roster as another resource reads it back (from the database, through the server).
    const tablet = await login('romeo', 'tablet');
    const roster = await tablet.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    const item = roster.getChild('query', 'jabber:iq:roster')?.getChild('item');
    assert.equal(item?.attrs.jid, 'juliet@localhost', roster.toString());
    assert.equal(item?.attrs.name, 'Juliet');

    const juliet = await login('juliet', 'balcony');
    await juliet.send(xml('presence'));
    const offline = await juliet.waitFor((s) => s.is('message') && s.getChildText('body') === 'wherefore art thou');
    assert.ok(offline.getChild('delay', 'urn:xmpp:delay'), offline.toString());

    const answer = await juliet.iq(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_MAM, queryid: 'q1' })));
    const fin = answer.getChild('fin', NS_MAM);
    assert.equal(fin?.getChild('set', NS_RSM)?.getChildText('count'), '1', answer.toString());
    const results = juliet.received.filter((s) => s.is('message') && s.getChild('result', NS_MAM)?.attrs.queryid === 'q1');
    assert.equal(results.length, 1);
    const forwarded = results[0]?.getChild('result', NS_MAM)?.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message');
    assert.equal(forwarded?.getChildText('body'), 'wherefore art thou');
  });

  it('with PostgreSQL stopped, logins fail with temporary-auth-failure; after it returns they succeed', async () => {
    await pgi.stopServer();
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(loginClient(ts, 'juliet', 'pw-juliet', `down${i}`), (err: { condition?: string }) => {
          assert.equal(err.condition, 'temporary-auth-failure', String(err));
          return true;
        });
      }
    } finally {
      await pgi.startServer();
    }
    // The pool meets its dead connections one by one: bounded retries until a login works.
    const deadline = Date.now() + 20_000;
    for (let attempt = 0; ; attempt++) {
      try {
        const c = await login('juliet', `back${attempt}`);
        assert.equal(c.jid, `juliet@localhost/back${attempt}`);
        break;
      } catch (err) {
        assert.equal((err as { condition?: string }).condition, 'temporary-auth-failure', String(err));
        if (Date.now() > deadline) throw err;
      }
    }
    // The server kept running throughout: a client that was connected still works.
    const romeo = clients.find((c) => c.jid === 'romeo@localhost/phone') as LoggedInClient;
    await romeo.send(xml('message', { to: romeo.jid, type: 'chat', id: 'self' }, xml('body', {}, 'still here')));
    await romeo.waitFor((s) => s.is('message') && s.attrs.id === 'self');
  });
});
