/**
 * `canto check features` (src/cli/check-features.ts), the real command as a child process
 * against a real server started here: with the default modules plus a chat room and an upload
 * component every Advanced-server item passes (exit 0, JSON checked, logged in with
 * SCRAM-SHA-256-PLUS, the throwaway account is gone afterwards); with carbons and csi disabled for the host those items are reported missing
 * with the hint, and the exit code is 1; with a given account (--jid) and a wrong password the
 * command fails with the login error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { withMuc } from '../helpers/muc.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import type { FeaturesReport } from '../../src/cli/check-features.js';

const ADVANCED_ITEMS = ['core', 'direct-tls', 'disco', 'caps', 'components', 'pep', 'rosterver', 'carbons', 'blocking', 'vcard', 'muc', 'muc-self-ping', 'sm', 'mam', 'upload', 'avatar-conversion', 'bookmarks', 'csi', 'push'];

async function startServer(disabled: string[] = []): Promise<{ ts: TestServer; configFile: string }> {
  const ts = await startTestServer((c) => {
    c.c2s.ports = [0];
    c.c2s.direct_tls_ports = [0];
    c.component_listener.ports = [0];
    c.http.tls_ports = [0];
    withMuc(c);
    c.component.push({ domain: 'upload.localhost', module: 'upload' }, { domain: 'gateway.localhost', secret: 'gateway-secret' });
    const vh = c.virtualhost.find((v) => v.domain === 'localhost');
    if (vh) vh.modules_disabled.push(...disabled);
  });
  // The command reads the same data_dir (accounts) and the ports the server really listens on.
  const configFile = join(tempDir(), 'canto.toml');
  writeFileSync(
    configFile,
    [
      `data_dir = ${JSON.stringify(ts.dataDir)}`,
      'log_level = "warn"',
      '[auth]',
      'scram_iterations = 4096',
      '[c2s]',
      'interfaces = ["127.0.0.1"]',
      `ports = [${ts.server.port('c2s')}]`,
      `direct_tls_ports = [${ts.server.port('c2s_direct_tls')}]`,
      '[component_listener]',
      `ports = [${ts.server.port('component')}]`,
      '[[component]]',
      'domain = "gateway.localhost"',
      'secret = "gateway-secret"',
      '[[virtualhost]]',
      'domain = "localhost"',
      `modules_disabled = ${JSON.stringify(disabled)}`,
      '',
    ].join('\n'),
  );
  return { ts, configFile };
}

test('canto check features: the default modules with MUC and upload pass every Advanced item', { timeout: 90_000 }, async () => {
  const { ts, configFile } = await startServer();
  try {
    const r = await runCanto(['check', 'features', '--json', '--config', configFile], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as FeaturesReport;
    assert.match(report.account, /^check-features-[0-9a-f]{8}@localhost$/);
    // TLS 1.3 on loopback and channel binding on: SCRAM with the tls-exporter binding, never PLAIN.
    assert.equal(report.mechanism, 'SCRAM-SHA-256-PLUS');
    assert.equal(report.advanced, true);
    assert.deepEqual(report.suites, { core: { core: true, advanced: true }, im: { core: true, advanced: true }, mobile: { core: true, advanced: true } });
    const byId = new Map(report.items.map((i) => [i.id, i]));
    for (const id of ADVANCED_ITEMS) {
      const item = byId.get(id);
      assert.ok(item, `item ${id} reported`);
      assert.ok(item.status === 'proven' || item.status === 'advertised', `${id}: ${item.status} ${item.detail}`);
      assert.equal(item.hint, undefined);
    }
    // The live checks really ran.
    for (const id of ['carbons', 'blocking', 'vcard', 'mam', 'muc', 'muc-self-ping', 'sm', 'pep', 'upload', 'push', 'direct-tls', 'ping']) {
      assert.equal(byId.get(id)?.status, 'proven', `${id}: ${byId.get(id)?.detail ?? ''}`);
    }
    for (const id of ['sasl2', 'bind2', 'fast', 'csi', 'caps']) assert.equal(byId.get(id)?.status, 'advertised', id);
    // No STUN/TURN configured: reported, but not an XEP-0479 server item, so the exit code is 0.
    assert.equal(byId.get('external-services')?.status, 'missing');
    // The throwaway account was deleted again.
    const [local] = report.account.split('@');
    assert.equal(await ts.server.storage.accounts.exists('localhost', local ?? ''), false);

    const text = await runCanto(['check', 'features', '--config', configFile], { timeoutMs: 60_000 });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /XEP-0045 Multi-user chat\s+- +C +- +proven/);
    assert.match(text.stdout, /checked as check-features-[0-9a-f]{8}@localhost \(logged in with SCRAM-SHA-256-PLUS\)/);
    assert.match(text.stdout, /XEP-0191 Blocking command\s+- +A +- +proven/);
    assert.match(text.stdout, /Mobile +suite: Core server pass, Advanced server pass/);
  } finally {
    await ts.stop();
  }
});

test('canto check features: a disabled module is reported missing with what to change, exit 1', { timeout: 90_000 }, async () => {
  const { ts, configFile } = await startServer(['carbons', 'csi']);
  try {
    await ts.server.storage.accounts.create('localhost', 'olga', makeCredentials('olga-pass', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
    const r = await runCanto(['check', 'features', '--json', '--jid', 'olga@localhost', '--password', 'olga-pass', '--config', configFile], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as FeaturesReport;
    assert.equal(report.account, 'olga@localhost');
    assert.equal(report.mechanism, 'SCRAM-SHA-256-PLUS');
    assert.equal(report.advanced, false);
    const byId = new Map(report.items.map((i) => [i.id, i]));
    assert.equal(byId.get('carbons')?.status, 'missing');
    assert.equal(byId.get('carbons')?.hint, 'remove "carbons" from modules_disabled of the [[virtualhost]] localhost');
    assert.equal(byId.get('csi')?.status, 'missing');
    assert.deepEqual(report.suites.im, { core: false, advanced: false });
    assert.deepEqual(report.suites.mobile, { core: false, advanced: false });
    assert.equal(report.suites.core.advanced, true);
    assert.equal(byId.get('mam')?.status, 'proven');
    // A given account is kept.
    assert.equal(await ts.server.storage.accounts.exists('localhost', 'olga'), true);

    const text = await runCanto(['check', 'features', '--jid', 'olga@localhost', '--password', 'olga-pass', '--config', configFile], { timeoutMs: 60_000 });
    assert.equal(text.code, 1);
    assert.match(text.stdout, /To change:\n(.*\n)* {2}XEP-0280 Message carbons: remove "carbons" from modules_disabled/);
    assert.match(text.stdout, /IM +suite: Core server FAIL, Advanced server FAIL/);

    const wrong = await runCanto(['check', 'features', '--jid', 'olga@localhost', '--password', 'nope', '--config', configFile], { timeoutMs: 60_000 });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /could not log in .* as olga@localhost .*not-authorized/);
  } finally {
    await ts.stop();
  }
});
