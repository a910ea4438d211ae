/**
 * `canto user disable|enable JID` (src/cli/user-state.ts), the real command as a child process:
 * against a running server through its admin socket (the account's live session is closed, its
 * logins get account-disabled, enable lets it in again), and with no server running (the state
 * is stored for the next start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { loginClient } from '../helpers/xmpp-client.js';
import { ScramClient, scramLogin } from '../helpers/scram-client.js';
import { tlsClient } from '../helpers/sasl2-raw.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { openSqliteStorage } from '../../src/storage/sqlite.js';
import { waitFor } from '../../src/testing/index.js';
import type { AccountStateDoc } from '../../src/modules/account_state/state.js';

test('canto user disable closes the live session of a running server and refuses logins; enable lets it in', { timeout: 60_000 }, async () => {
  const ts = await startTestServer();
  try {
    await ts.server.storage.accounts.create('localhost', 'dora', makeCredentials('dora-pass', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
    const configFile = join(tempDir(), 'canto.toml');
    writeFileSync(configFile, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
    const login = async () => {
      const { c } = await tlsClient(ts.c2sPort);
      const r = await scramLogin(c, 'SCRAM-SHA-256', new ScramClient({ hash: 'SHA-256', username: 'dora', password: 'dora-pass' }));
      c.close();
      return r;
    };

    const client = await loginClient(ts, 'dora', 'dora-pass', 'phone');
    await waitFor(() => ts.server.sessions.getUserSessions('localhost', 'dora').length === 1);
    const off = await runCanto(['user', 'disable', 'dora@localhost', '--reason', 'spam', '--config', configFile]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /dora@localhost disabled on the running server: 1 session\(s\) closed/);
    await waitFor(() => ts.server.sessions.getUserSessions('localhost', 'dora').length === 0, { message: 'the session was not closed' });
    await client.stop().catch(() => undefined);
    const refused = await login();
    assert.equal(refused.ok ? 'ok' : refused.condition, 'account-disabled');
    const doc = await ts.server.storage.keyval<AccountStateDoc>('localhost', 'account_state').get('');
    assert.equal(doc?.disabled.dora?.reason, 'spam');

    const on = await runCanto(['user', 'enable', 'dora@localhost', '--config', configFile]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /dora@localhost enabled/);
    const back = await login();
    assert.ok(back.ok && back.verified, JSON.stringify(back));
    const again = await runCanto(['user', 'enable', 'dora@localhost', '--config', configFile]);
    assert.match(again.stdout, /was not disabled/);

    const ghost = await runCanto(['user', 'disable', 'ghost@localhost', '--config', configFile]);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /ghost@localhost: no such account/);
    const usage = await runCanto(['user', 'freeze', 'dora@localhost', '--config', configFile]);
    assert.equal(usage.code, 2);
  } finally {
    await ts.stop();
  }
});

test('canto user disable with no server running stores the state for the next start', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const configFile = join(dir, 'canto.toml');
  writeFileSync(configFile, `data_dir = "data"\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
  const add = await runCanto(['adduser', 'eve@localhost', '--password', 'eve-pass-7431', '--config', configFile]);
  assert.equal(add.code, 0, add.stderr);

  const off = await runCanto(['user', 'disable', 'eve@localhost', '--config', configFile]);
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /eve@localhost disabled \(no server running/);
  const twice = await runCanto(['user', 'disable', 'eve@localhost', '--config', configFile]);
  assert.match(twice.stdout, /already disabled/);
  const read = async () => {
    const storage = openSqliteStorage({ dataDir: join(dir, 'data') });
    try {
      return await storage.keyval<AccountStateDoc>('localhost', 'account_state').get('');
    } finally {
      await storage.close();
    }
  };
  assert.ok((await read())?.disabled.eve, 'stored');
  const on = await runCanto(['user', 'enable', 'eve@localhost', '--config', configFile]);
  assert.equal(on.code, 0, on.stderr);
  assert.equal((await read())?.disabled.eve, undefined);
  const ghost = await runCanto(['user', 'enable', 'ghost@localhost', '--config', configFile]);
  assert.equal(ghost.code, 1);
});
