/** XEP-0092 version module: name, version from package.json, hide_os, hide_version. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type as osType } from 'node:os';
import version, { cantoVersion, NS_VERSION } from '../../src/modules/version/index.js';
import { iq } from '../../src/xml/stanza.js';
import { errorCondition, startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

const ask = iq({ type: 'get', id: 'v1', to: HOST }).c('query', { xmlns: NS_VERSION }).up();
const pkgVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

test('cantoVersion reads the version from package.json', () => {
  assert.equal(cantoVersion(), pkgVersion);
  assert.equal(cantoVersion('/'), 'unknown');
});

test('answers Canto and its version, without the OS by default', async () => {
  const h = await startHarness({ modules: [version] });
  try {
    const c = await h.client('romeo@localhost');
    const r = await c.ask(ask.clone());
    const q = r.getChild('query', NS_VERSION);
    assert.equal(q?.getChildText('name'), 'Canto');
    assert.equal(q?.getChildText('version'), pkgVersion);
    assert.equal(q?.getChild('os'), undefined);
    assert.ok(h.context.features.includes(NS_VERSION));
  } finally {
    await h.stop();
  }
});

test('hide_os = false adds the OS', async () => {
  const h = await startHarness({ modules: [version], config: (c) => {
    c.modules.version = { hide_os: false };
  } });
  try {
    const c = await h.client('romeo@localhost');
    const r = await c.ask(ask.clone());
    assert.match(r.getChild('query', NS_VERSION)?.getChildText('os') ?? '', new RegExp(`^${osType()} `));
  } finally {
    await h.stop();
  }
});

test('hide_version = true answers service-unavailable and does not advertise the feature', async () => {
  const h = await startHarness({ modules: [version], config: (c) => {
    c.modules.version = { hide_version: true };
  } });
  try {
    const c = await h.client('romeo@localhost');
    const r = await c.ask(ask.clone());
    assert.equal(errorCondition(r), 'cancel/service-unavailable');
    assert.equal(h.context.features.includes(NS_VERSION), false);
  } finally {
    await h.stop();
  }
});

test('a wrong option type is an error naming the key', async () => {
  await assert.rejects(
    startHarness({ modules: [version], config: (c) => {
      c.modules.version = { hide_os: 'yes' };
    } }),
    /modules\.version\.hide_os: expected a boolean \(true or false\), got "yes"/,
  );
});
