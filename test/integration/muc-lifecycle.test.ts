/**
 * The life of rooms and occupants with real @xmpp/client clients: a persistent room keeps its
 * configuration, affiliations, registered nickname and subject across a server restart (same
 * data directory, SQLite); a temporary room vanishes with its last occupant; occupants are told
 * (332) when the server stops; a resource whose session ends leaves its rooms (no ghost), whether
 * it closed cleanly or its connection was cut.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { bootServer } from '../../src/app/boot.js';
import { testConfig, testLogger, tempDir, waitFor } from '../../src/testing/index.js';
import type { TestServer } from '../helpers/server.js';
import { startTestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml, type LoggedInClient } from '../helpers/xmpp-client.js';
import { adminGet, adminSet, codes, createInstant, form, isPresenceFrom, isSelfPresence, isSubject, join, listJids, NS, ownerSubmit, roomJid, ask, outcome, withMuc } from '../helpers/muc.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A server on a data directory that outlives it. */
async function serverOn(dataDir: string): Promise<TestServer> {
  const config = testConfig(dataDir);
  config.c2s.ports = [0];
  withMuc(config);
  const server = await bootServer({ config, log: testLogger(config) });
  return { server, config, dataDir, c2sPort: server.port('c2s'), stop: () => server.stop('test finished', 500) };
}

test('a persistent room survives a restart with its configuration, affiliations, registration and subject; occupants were told (332)', async () => {
  const dataDir = tempDir('canto-muc-');
  dirs.push(dataDir);
  const first = await serverOn(dataDir);
  let romeo: LoggedInClient | undefined;
  let juliet: LoggedInClient | undefined;
  try {
    for (const u of ['romeo', 'juliet', 'tybalt']) await createAccount(first, u, 'pw');
    romeo = await loginClient(first, 'romeo', 'pw', 'phone');
    juliet = await loginClient(first, 'juliet', 'pw', 'balcony');
    await createInstant(romeo, 'verona', 'Romeo');
    await romeo.iq(ownerSubmit('verona', { 'muc#roomconfig_persistentroom': true, 'muc#roomconfig_roomname': 'Fair Verona', 'muc#roomconfig_membersonly': true }));
    await romeo.iq(adminSet('verona', { jid: 'juliet@localhost', affiliation: 'member' }, { jid: 'tybalt@localhost', affiliation: 'outcast', reason: 'Feud' }));
    await juliet.iq(xml('iq', { type: 'set', to: roomJid('verona') }, xml('query', { xmlns: NS.register }, form('http://jabber.org/protocol/muc#register', { 'muc#register_roomnick': 'Juliet' }))));
    await romeo.send(xml('message', { to: roomJid('verona'), type: 'groupchat' }, xml('subject', {}, 'Two households')));
    await romeo.waitFor((s) => isSubject('verona')(s) && s.getChildText('subject') === 'Two households');
    await join(juliet, 'verona', 'Juliet');
    await first.server.stop('restart', 500);
    const told = await juliet.waitFor(isSelfPresence(`${roomJid('verona')}/Juliet`, 'unavailable'));
    assert.deepEqual(codes(told), [110, 332]);
  } finally {
    await romeo?.stop();
    await juliet?.stop();
    await first.server.stop();
  }

  const second = await serverOn(dataDir);
  try {
    const r2 = await loginClient(second, 'romeo', 'pw', 'phone');
    const j2 = await loginClient(second, 'juliet', 'pw', 'balcony');
    try {
      const info = await j2.iq(xml('iq', { type: 'get', to: roomJid('verona') }, xml('query', { xmlns: NS.discoInfo })));
      const q = info.getChild('query', NS.discoInfo);
      assert.equal(q?.getChild('identity')?.attrs.name, 'Fair Verona');
      const features = q?.getChildren('feature').map((f) => f.attrs.var) ?? [];
      assert.ok(features.includes('muc_persistent') && features.includes('muc_membersonly'), features.join());
      assert.deepEqual(listJids(await r2.iq(adminGet('verona', { affiliation: 'member' }))), ['juliet@localhost']);
      assert.deepEqual(listJids(await r2.iq(adminGet('verona', { affiliation: 'outcast' }))), ['tybalt@localhost']);
      assert.deepEqual(listJids(await r2.iq(adminGet('verona', { affiliation: 'owner' }))), ['romeo@localhost']);
      // Not locked after a restart: the member enters with her registered nickname and gets the subject.
      await j2.send(xml('presence', { to: `${roomJid('verona')}/Juliet` }, xml('x', { xmlns: NS.muc })));
      await j2.waitFor(isSelfPresence(`${roomJid('verona')}/Juliet`));
      const subject = await j2.waitFor(isSubject('verona'));
      assert.equal(subject.getChildText('subject'), 'Two households');
    } finally {
      await r2.stop();
      await j2.stop();
    }
  } finally {
    await second.server.stop();
  }
});

test('a temporary room vanishes with its last occupant; a session that ends leaves its rooms', async () => {
  // Stream management keeps a cut session for resume_timeout (it stays in its rooms meanwhile).
  const ts = await startTestServer((c) => {
    withMuc(c);
    c.modules.smacks = { resume_timeout: '1s' };
  });
  const clients: LoggedInClient[] = [];
  try {
    for (const u of ['romeo', 'juliet', 'mercutio']) await createAccount(ts, u, 'pw');
    const romeo = await loginClient(ts, 'romeo', 'pw', 'phone');
    const juliet = await loginClient(ts, 'juliet', 'pw', 'balcony');
    const mercutio = await loginClient(ts, 'mercutio', 'pw', 'street');
    clients.push(romeo, juliet, mercutio);
    await createInstant(romeo, 'ball', 'Romeo');
    await join(juliet, 'ball', 'Juliet');
    await join(mercutio, 'ball', 'Mercutio');
    // Going offline (unavailable presence without 'to'): the presence module tells the rooms the resource is in.
    await juliet.send(xml('presence', { type: 'unavailable' }));
    const left = await romeo.waitFor(isPresenceFrom(`${roomJid('ball')}/Juliet`, 'unavailable'));
    assert.deepEqual(codes(left), []);
    // A cut connection: the session hibernates (still in the room), then expires and leaves.
    mercutio.xmpp.socket?.socket?.destroy();
    const cut = Date.now();
    await romeo.waitFor(isPresenceFrom(`${roomJid('ball')}/Mercutio`, 'unavailable'), 10_000);
    assert.ok(Date.now() - cut >= 900, 'left when the hibernation expired, not before');
    const muc = ts.server.components.get('conference.localhost');
    assert.equal(muc?.kind, 'internal');
    // The last occupant leaves: the temporary room is gone.
    await romeo.send(xml('presence', { to: `${roomJid('ball')}/Romeo`, type: 'unavailable' }));
    await romeo.waitFor(isSelfPresence(`${roomJid('ball')}/Romeo`, 'unavailable'));
    await waitFor(async () => outcome(await ask(romeo, xml('iq', { type: 'get', to: roomJid('ball') }, xml('query', { xmlns: NS.discoInfo })))) === 'item-not-found', { timeoutMs: 3000 });
    // And joining again creates a new, locked room owned by whoever comes first.
    const again = await join(romeo, 'ball', 'Romeo');
    assert.deepEqual(codes(again), [110, 201]);
  } finally {
    for (const c of clients) await c.stop();
    await ts.stop();
  }
});
