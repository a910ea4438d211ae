/**
 * The registry logic of cluster mode without processes: a node's replica of proxy sessions
 * (identity kept across updates, snapshots, dead nodes) and the storage wrapper that announces
 * writes. (Racing bindings across nodes are the BIND script's: cluster-redis-scripts.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from '../../src/cluster/replica.js';
import { ProxySession, type ProxyLink } from '../../src/cluster/proxy-session.js';
import type { RegistryEntry } from '../../src/cluster/protocol.js';
import { watchStorage, ACCOUNT_DELETED } from '../../src/cluster/storage-watch.js';
import { openMemoryStorage } from '../../src/storage/memory.js';
import { silentLogger } from '../../src/core/logging.js';
import type { Element } from '../../src/xml/element.js';

const entry = (over: Partial<RegistryEntry> = {}): RegistryEntry => ({
  host: 'localhost', username: 'juliet', resource: 'balcony', worker: 2, sid: 'c2s1', interested: false, ...over,
});

function replicaFor(self: number) {
  const sent: Array<{ to: string; xml: string }> = [];
  const closed: Array<{ sid: string }> = [];
  const link: ProxyLink = {
    log: silentLogger(),
    deliver: (e, stanza) => void sent.push({ to: `${e.worker}:${e.sid}`, xml: typeof stanza === 'string' ? stanza : stanza.toString() }),
    closeRemote: (e) => void closed.push({ sid: e.sid }),
  };
  return { replica: new Replica(self, (e) => new ProxySession(e, link)), sent, closed };
}

test('replica: proxies keep their identity across updates and carry the real presence', () => {
  const { replica, sent, closed } = replicaFor(1);
  replica.upsert(entry({ worker: 1, sid: 'own' })); // this worker's own entries are never proxies
  assert.equal(replica.size, 0);
  replica.upsert(entry());
  const proxy = replica.session('localhost', 'juliet', 'balcony');
  assert.ok(proxy);
  assert.equal(proxy.type, 'c2s');
  assert.equal(proxy.fullJid, 'juliet@localhost/balcony');
  assert.equal(proxy.presence, undefined);
  replica.upsert(entry({ priority: 3, interested: true, presence: "<presence xmlns='jabber:client' from='juliet@localhost/balcony'><status>here</status></presence>" }));
  assert.equal(replica.session('localhost', 'juliet', 'balcony'), proxy, 'same object: modules may hold it');
  assert.equal(proxy.priority, 3);
  assert.equal(proxy.interested, true);
  assert.equal((proxy.presence as Element | undefined)?.getChildText('status'), 'here');
  proxy.send("<message to='juliet@localhost/balcony'/>");
  assert.deepEqual(sent, [{ to: '2:c2s1', xml: "<message to='juliet@localhost/balcony'/>" }]);
  proxy.close('conflict');
  assert.deepEqual(closed, [{ sid: 'c2s1' }]);
  replica.upsert(entry({ priority: 3 }));
  assert.equal(proxy.presence, undefined, 'unavailable again');
});

test('replica: a newer binding replaces the proxy; stale unbinds, releases, snapshots and dead workers', () => {
  const { replica } = replicaFor(1);
  replica.upsert(entry({ worker: 2, sid: 'old' }));
  const old = replica.session('localhost', 'juliet', 'balcony');
  replica.upsert(entry({ worker: 3, sid: 'new' }));
  const current = replica.session('localhost', 'juliet', 'balcony');
  assert.notEqual(current, old);
  assert.equal(old?.destroyed, true);
  assert.equal(replica.size, 1);
  replica.remove(entry({ worker: 2, sid: 'old' }));
  assert.equal(replica.session('localhost', 'juliet', 'balcony'), current, 'the stale unbind removed nothing');
  assert.equal(replica.release(old as ProxySession), false);
  replica.upsert(entry({ resource: 'garden', worker: 3, sid: 'g' }));
  replica.upsert(entry({ username: 'romeo', resource: 'x', worker: 2, sid: 'r' }));
  assert.equal(replica.userSessions('localhost', 'juliet').length, 2);
  const dropped = replica.dropWorker(3);
  assert.equal(dropped.length, 2);
  assert.equal(replica.userSessions('localhost', 'juliet').length, 0);
  assert.equal(replica.size, 1);
  const romeo = replica.session('localhost', 'romeo', 'x');
  assert.ok(romeo);
  assert.equal(replica.release(romeo), true);
  assert.equal(replica.size, 0);
  replica.upsert(entry({ worker: 2, sid: 'z' }));
  replica.load([entry({ username: 'nurse', resource: 'n', worker: 4, sid: 'n1' }), entry({ worker: 1, sid: 'mine' })]);
  assert.equal(replica.size, 1);
  assert.equal(replica.session('localhost', 'juliet', 'balcony'), undefined);
  assert.ok(replica.session('localhost', 'nurse', 'n'));
});

/** The stores the roster and blocking modules declare with mod.cachedStore. */
const CACHED: ReadonlySet<string> = new Set(['roster', 'blocklist']);

test('storage watch: writes to cached stores and account deletions are announced after they are done', async () => {
  const inner = openMemoryStorage();
  const writes: string[] = [];
  const storage = watchStorage(inner, (store, host, username) => writes.push(`${store} ${host} ${username}`), () => CACHED);
  await storage.keyval('localhost', 'vcard').set('juliet', { x: 1 });
  assert.deepEqual(writes, []);
  await storage.keyval<string[]>('localhost', 'blocklist').set('juliet', ['romeo@localhost']);
  assert.deepEqual(await inner.keyval('localhost', 'blocklist').get('juliet'), ['romeo@localhost']);
  await storage.keyval('localhost', 'roster').set('juliet', undefined);
  assert.deepEqual(writes, ['blocklist localhost juliet', 'roster localhost juliet']);
  writes.length = 0;
  assert.equal(await storage.accounts.delete('localhost', 'nobody'), false);
  assert.deepEqual(writes, []);
  await storage.deleteUserData('localhost', 'juliet');
  assert.deepEqual(writes.sort(), ['blocklist localhost juliet', 'roster localhost juliet']);
  writes.length = 0;
  await storage.accounts.create('localhost', 'juliet', {});
  assert.equal(await storage.accounts.delete('localhost', 'juliet'), true);
  assert.deepEqual(writes, [`${ACCOUNT_DELETED} localhost juliet`]);
});

test('storage watch: update of a cached store is forwarded and announced; a throwing update is not', async () => {
  const inner = openMemoryStorage();
  const writes: string[] = [];
  const storage = watchStorage(inner, (store, host, username) => writes.push(`${store} ${host} ${username}`), () => CACHED);
  const blocklist = storage.keyval<string[]>('localhost', 'blocklist');
  assert.deepEqual(await blocklist.update('juliet', (list) => [...(list ?? []), 'romeo@localhost']), ['romeo@localhost']);
  assert.deepEqual(await inner.keyval('localhost', 'blocklist').get('juliet'), ['romeo@localhost']);
  assert.deepEqual(writes, ['blocklist localhost juliet']);
  await assert.rejects(blocklist.update('juliet', () => { throw new Error('no'); }), /no/);
  await storage.keyval<number>('localhost', 'vcard').update('juliet', () => 1);
  await storage.map<number>('localhost', 'pep').update('juliet', 'node', () => 1);
  assert.deepEqual(writes, ['blocklist localhost juliet']);
  assert.equal(await inner.map('localhost', 'pep').get('juliet', 'node'), 1);
});

test('config: [cluster] workers is an integer from 1 to 64, 1 by default, errors name the line', async () => {
  const { parseConfig, ConfigError } = await import('../../src/app/config.js');
  assert.equal(parseConfig('').cluster.workers, 1);
  assert.equal(parseConfig('[cluster]\nworkers = 4\nredis = "redis://127.0.0.1:6379"\n').cluster.workers, 4);
  // The primary relay is retired: several processes on one machine are Redis nodes.
  assert.throws(() => parseConfig('[cluster]\nworkers = 2\n', 'canto.toml'), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /canto\.toml, line 2: cluster\.workers: workers = 2 runs that many Redis cluster nodes on this machine: set \[cluster\] redis too/);
    assert.match(err.message, /redis-server/);
    return true;
  });
  for (const bad of ['0', '65', '2.5', '"2"']) {
    assert.throws(() => parseConfig(`log_level = "info"\n[cluster]\nworkers = ${bad}\n`, 'canto.toml'), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /canto\.toml, line 3: cluster\.workers: expected an integer from 1 to 64/);
      return true;
    });
  }
  assert.throws(() => parseConfig('[cluster]\nworker = 2\n'), /did you mean `workers`/);
});
