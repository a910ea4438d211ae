/**
 * Issue 13, in-order completion: an answer to a later stanza of a session means every earlier
 * stanza of it was delivered, stored or bounced. A client sends 2,000 messages to an offline
 * user and then a ping; once the ping is answered the server is killed with SIGKILL; after a
 * restart on the same data directory the recipient gets all 2,000 from offline storage.
 * (Before the client session waited for held stanzas, the ping overtook the offline writes and
 * some messages were lost.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { startHarness, tempDir, waitFor } from '../../src/testing/index.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import type { ArchiveStore, StorageDriver } from '../../src/storage/types.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { loadLogin, type LoadClient } from '../helpers/load-client.js';

const COUNT = 2000;

/** No goodbye: the server process dies at once, as in a crash (SIGKILL). */
async function crash(server: ServerProcess): Promise<void> {
  const gone = once(server.child, 'exit');
  server.child.kill('SIGKILL');
  await gone;
}

/** The ids (first group of `pattern`, a /g regex) of the messages `client` receives from now on. */
function messageIds(client: LoadClient, pattern: RegExp): Set<string> {
  const seen = new Set<string>();
  let text = '';
  client.onText((chunk) => {
    text += chunk;
    for (const m of text.matchAll(pattern)) seen.add(m[1] ?? '');
    text = text.slice(Math.max(0, text.lastIndexOf('<message'))); // a stanza cut between chunks is read again
  });
  return seen;
}

test('2,000 messages to an offline user, a ping answered, SIGKILL: every message is stored', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('canto-kill-');
  const config = { data_dir: dataDir, modules: { offline: { max_messages: 5000 } } };
  try {
    const first = await startServerProcess({ config, accounts: { prefix: 'k', count: 2, password: 'pw' } });
    try {
      const sender = await loadLogin({ port: first.c2sPort, username: 'k0', password: 'pw' });
      let burst = '';
      for (let i = 0; i < COUNT; i++) burst += `<message to='k1@localhost' type='chat' id='m${i}'><body>number ${i}</body></message>`;
      sender.send(burst);
      sender.send(`<iq type='get' id='after-all' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
      await sender.next(/<iq[^>]*id=["']after-all["']/, 60_000);
    } finally {
      await crash(first);
    }

    const second = await startServerProcess({ config });
    try {
      const recipient = await loadLogin({ port: second.c2sPort, username: 'k1', password: 'pw' });
      const seen = messageIds(recipient, /<message[^>]*\bid=["'](m\d+)["']/g);
      recipient.send('<presence/>');
      await waitFor(() => seen.size >= COUNT, { timeoutMs: 60_000, intervalMs: 50 }).catch(() => undefined);
      assert.equal(seen.size, COUNT, `all ${COUNT} messages stored before the ping was answered (got ${seen.size})`);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * The same rule where storage takes real time (as a network database does): archive writes go
 * one at a time over one "connection", each a millisecond or two. The moment the ping's answer
 * arrives, every message sent before it must already be in the store.
 */
test('with slow storage, a ping answered after 300 messages to an offline user finds all 300 stored', { timeout: 60_000 }, async () => {
  const memory = openMemoryStorage();
  let line: Promise<unknown> = Promise.resolve();
  const slow: StorageDriver = {
    accounts: memory.accounts,
    keyval: (host, store) => memory.keyval(host, store),
    map: (host, store) => memory.map(host, store),
    archive<T>(host: string, store: string): ArchiveStore<T> {
      const inner = memory.archive<T>(host, store);
      return {
        append: (username, item) => {
          const done = line.then(() => new Promise((r) => setTimeout(r, 1))).then(() => inner.append(username, item));
          line = done.catch(() => undefined);
          return done;
        },
        find: (username, q) => inner.find(username, q),
        count: (username, q) => inner.count(username, q),
        delete: (username, q) => inner.delete(username, q),
      };
    },
    deleteUserData: (host, username) => memory.deleteUserData(host, username),
    close: () => memory.close(),
  };
  const h = await startHarness({ listen: true, storage: slow });
  try {
    await h.createAccount('sender', 'pw');
    await h.createAccount('away', 'pw');
    const sender = await loadLogin({ port: h.c2sPort, username: 'sender', password: 'pw' });
    let burst = '';
    for (let i = 0; i < 300; i++) burst += `<message to='away@localhost' type='chat' id='s${i}'><body>${i}</body></message>`;
    sender.send(`${burst}<iq type='get' id='after-all' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await sender.next(/<iq[^>]*id=["']after-all["']/, 30_000);
    const stored = await memory.archive('localhost', 'offline').count('away');
    assert.equal(stored, 300, 'every message before the ping is stored when the ping is answered');
    sender.close();
  } finally {
    await h.stop();
  }
});

/**
 * Issue 13, "acks you can trust": a client with stream management sends 1,000 messages to an
 * offline user and asks for an ack; the moment `<a h='1000'/>` arrives the server is killed
 * with SIGKILL. After a restart every acknowledged message is in the recipient's offline store
 * and archive.
 */
test('SIGKILL right after stream management acked 1,000 messages: every one is stored and archived', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('canto-kill-sm-');
  const config = { data_dir: dataDir, modules: { offline: { max_messages: 5000 } } };
  const N = 1000;
  try {
    const first = await startServerProcess({ config, accounts: { prefix: 'a', count: 2, password: 'pw' } });
    try {
      const sender = await loadLogin({ port: first.c2sPort, username: 'a0', password: 'pw' });
      sender.send(`<enable xmlns='urn:xmpp:sm:3'/>`);
      await sender.next(/<enabled[^>]*xmlns=["']urn:xmpp:sm:3["']|<enabled[^>]*\/>/);
      let burst = '';
      for (let i = 0; i < N; i++) burst += `<message to='a1@localhost' type='chat' id='k${i}'><body>acked ${i}</body></message>`;
      sender.send(`${burst}<r xmlns='urn:xmpp:sm:3'/>`);
      const ack = await sender.next(/<a[^>]*\bh=["'](\d+)["'][^>]*\/>/, 60_000);
      assert.equal(ack[1], String(N), 'all messages acknowledged');
    } finally {
      await crash(first);
    }

    const second = await startServerProcess({ config });
    try {
      const recipient = await loadLogin({ port: second.c2sPort, username: 'a1', password: 'pw' });
      // The archive first (before presence, as a MAM client does): every message is there.
      recipient.send(`<iq type='set' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='q'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>`);
      const fin = await recipient.next(/<iq[^>]*id=["']mam1["'][\s\S]*?<\/iq>/, 30_000);
      assert.match(fin[0], new RegExp(`<count>${N}</count>`), 'the archive holds every acknowledged message');
      // And offline storage for clients without MAM (this session queried MAM before presence,
      // so it is spared the copies it has; a second, plain session gets them).
      const plain = await loadLogin({ port: second.c2sPort, username: 'a1', password: 'pw', resource: 'plain' });
      const seen = messageIds(plain, /<message[^>]*\bid=["'](k\d+)["']/g);
      plain.send('<presence/>');
      await waitFor(() => seen.size >= N, { timeoutMs: 60_000, intervalMs: 50 }).catch(() => undefined);
      assert.equal(seen.size, N, `all ${N} acknowledged messages stored offline (got ${seen.size})`);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
