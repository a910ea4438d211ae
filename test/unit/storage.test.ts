/**
 * The storage contract: every driver must pass the same tests. Each suite runs once against
 * the in-memory driver, once against SQLite in a fresh temporary directory and once against a
 * private PostgreSQL (test/helpers/postgres.ts; one server for the file, a fresh database per
 * opened driver).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openMemoryStorage,
  openSqliteStorage,
  StorageDuplicateIdError,
  StorageInvalidArgumentError,
  StorageItemNotFoundError,
  type AccountCredentials,
  type ArchiveQuery,
  type ArchiveStore,
  type StorageDriver,
  type UpdateFn,
} from '../../src/storage/index.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import fc from 'fast-check';
import { openPostgresStorage } from '../../src/storage/postgres.js';
import { silentLogger } from '../../src/core/logging.js';
import { skipWithoutPostgres, startPostgres, type PostgresInstance } from '../helpers/postgres.js';

interface DriverFactory {
  name: string;
  open(): StorageDriver | Promise<StorageDriver>;
  cleanup(): void;
}

const tempDirs: string[] = [];
const factories: DriverFactory[] = [
  { name: 'memory', open: () => openMemoryStorage(), cleanup: () => {} },
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'canto-storage-'));
      tempDirs.push(dir);
      return openSqliteStorage({ dataDir: join(dir, 'data') });
    },
    cleanup: () => {
      for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  },
];

// One PostgreSQL for the whole file, started by the first postgres suite that opens a driver.
// Without the binaries the suite is skipped, except under CI=true where that is an error.
const pgSkip = skipWithoutPostgres();
let postgres: Promise<PostgresInstance> | undefined;
if (!pgSkip) {
  factories.push({
    name: 'postgres',
    open: async () => {
      postgres ??= startPostgres();
      const url = await (await postgres).createDatabase();
      return openPostgresStorage({ url, pool_size: 10 }, silentLogger());
    },
    cleanup: () => {},
  });
  after(async () => {
    if (postgres) await (await postgres).stop();
  });
} else {
  it('storage contract: postgres', { skip: pgSkip }, () => {});
}

/** One stored value, whichever store shape holds it: the `update` tests run on both. */
interface Cell<T> {
  get(): Promise<T | undefined>;
  set(value: T | undefined): Promise<void>;
  update(fn: UpdateFn<T>): Promise<T | undefined>;
}
const SHAPES: { name: string; cell<T>(s: StorageDriver, store: string): Cell<T> }[] = [
  {
    name: 'keyval',
    cell<T>(s: StorageDriver, store: string): Cell<T> {
      const kv = s.keyval<T>('up.example', store);
      return { get: () => kv.get('u'), set: (v) => kv.set('u', v), update: (fn) => kv.update('u', fn) };
    },
  },
  {
    name: 'map',
    cell<T>(s: StorageDriver, store: string): Cell<T> {
      const m = s.map<T>('up.example', store);
      return { get: () => m.get('u', 'item'), set: (v) => m.set('u', 'item', v), update: (fn) => m.update('u', 'item', fn) };
    },
  },
];

/** Starts `n` increments at once and resolves to what each one stored. */
function incrementConcurrently(update: (fn: UpdateFn<number>) => Promise<number | undefined>, n: number): Promise<(number | undefined)[]> {
  return Promise.all(Array.from({ length: n }, () => update((current) => (current ?? 0) + 1)));
}

// Derived once: PBKDF2 at 4096 iterations costs a few ms per call.
const CREDS: AccountCredentials = makeCredentials('secret one', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] });
const CREDS_256: AccountCredentials = makeCredentials('secret two', { iterations: 4096, hashes: ['SHA-256'] });

for (const factory of factories) {
  describe(`storage contract: ${factory.name}`, () => {
    let s: StorageDriver;
    before(async () => {
      s = await factory.open();
    });
    after(async () => {
      await s.close();
      factory.cleanup();
    });

    describe('keyval', () => {
      it('returns undefined for a missing value', async () => {
        assert.equal(await s.keyval('a.example', 'kv-missing').get('romeo'), undefined);
      });
      it('stores, overwrites and deletes (set undefined)', async () => {
        const kv = s.keyval<{ n: number; tags: string[] }>('a.example', 'kv-basic');
        await kv.set('romeo', { n: 1, tags: ['x'] });
        assert.deepEqual(await kv.get('romeo'), { n: 1, tags: ['x'] });
        await kv.set('romeo', { n: 2, tags: [] });
        assert.deepEqual(await kv.get('romeo'), { n: 2, tags: [] });
        await kv.set('romeo', undefined);
        assert.equal(await kv.get('romeo'), undefined);
        await kv.set('romeo', undefined); // deleting nothing is fine
      });
      it('keeps JSON scalars, including null, distinct from "missing"', async () => {
        const kv = s.keyval<unknown>('a.example', 'kv-scalars');
        for (const v of [null, 0, '', false, 'ünïcödé \u{1F600}', [1, [2]]]) {
          await kv.set('u', v);
          assert.deepEqual(await kv.get('u'), v);
        }
      });
      it('isolates hosts, stores and users', async () => {
        await s.keyval('a.example', 'kv-iso').set('romeo', 'A');
        await s.keyval('b.example', 'kv-iso').set('romeo', 'B');
        await s.keyval('a.example', 'kv-iso2').set('romeo', 'C');
        await s.keyval('a.example', 'kv-iso').set('juliet', 'D');
        assert.equal(await s.keyval('a.example', 'kv-iso').get('romeo'), 'A');
        assert.equal(await s.keyval('b.example', 'kv-iso').get('romeo'), 'B');
        assert.equal(await s.keyval('a.example', 'kv-iso2').get('romeo'), 'C');
        assert.equal(await s.keyval('a.example', 'kv-iso').get('juliet'), 'D');
        assert.equal(await s.keyval('a.example', 'kv-iso').get('Romeo'), undefined);
      });
      it('hands out copies: mutating a read or written value changes nothing stored', async () => {
        const kv = s.keyval<{ list: number[] }>('a.example', 'kv-copy');
        const written = { list: [1] };
        await kv.set('u', written);
        written.list.push(2);
        const read = await kv.get('u');
        read?.list.push(3);
        assert.deepEqual(await kv.get('u'), { list: [1] });
      });
      it('rejects values JSON cannot hold, and empty host/store names', async () => {
        const kv = s.keyval<unknown>('a.example', 'kv-bad');
        await assert.rejects(kv.set('u', () => 1), StorageInvalidArgumentError);
        await assert.rejects(kv.set('u', Symbol('x')), StorageInvalidArgumentError);
        assert.throws(() => s.keyval('', 'x'), StorageInvalidArgumentError);
        assert.throws(() => s.keyval('a.example', ''), StorageInvalidArgumentError);
      });
    });

    describe('map', () => {
      it('gets, sets, overwrites and deletes single items', async () => {
        const m = s.map<{ v: number }>('a.example', 'map-basic');
        assert.equal(await m.get('romeo', 'k1'), undefined);
        await m.set('romeo', 'k1', { v: 1 });
        await m.set('romeo', 'k2', { v: 2 });
        assert.deepEqual(await m.get('romeo', 'k1'), { v: 1 });
        await m.set('romeo', 'k1', { v: 10 });
        assert.deepEqual(await m.get('romeo', 'k1'), { v: 10 });
        await m.set('romeo', 'k1', undefined);
        assert.equal(await m.get('romeo', 'k1'), undefined);
        assert.deepEqual(await m.get('romeo', 'k2'), { v: 2 });
      });
      it('getAll and keys list the user\'s items sorted by key', async () => {
        const m = s.map<string>('a.example', 'map-all');
        for (const key of ['urn:b', 'urn:a', 'Zed', 'é', '']) await m.set('romeo', key, `v-${key}`);
        await m.set('juliet', 'urn:other', 'not romeo');
        const expectedKeys = ['', 'Zed', 'urn:a', 'urn:b', 'é'];
        assert.deepEqual(await m.keys('romeo'), expectedKeys);
        const all = await m.getAll('romeo');
        assert.ok(all instanceof Map);
        assert.deepEqual([...all.keys()], expectedKeys);
        assert.equal(all.get('urn:a'), 'v-urn:a');
        assert.deepEqual(await m.keys('nobody'), []);
        assert.equal((await m.getAll('nobody')).size, 0);
      });
      it('isolates hosts and stores', async () => {
        await s.map('a.example', 'map-iso').set('u', 'k', 1);
        await s.map('b.example', 'map-iso').set('u', 'k', 2);
        await s.map('a.example', 'map-iso2').set('u', 'k', 3);
        assert.equal(await s.map('a.example', 'map-iso').get('u', 'k'), 1);
        assert.equal(await s.map('b.example', 'map-iso').get('u', 'k'), 2);
        assert.deepEqual(await s.map('a.example', 'map-iso2').keys('u'), ['k']);
      });
    });

    for (const shape of SHAPES) {
      describe(`${shape.name} update`, () => {
        it('loses no increment among 200 concurrent updates', async () => {
          const cell = shape.cell<number>(s, 'up-count');
          const stored = await incrementConcurrently(cell.update, 200);
          assert.equal(await cell.get(), 200);
          // Each update saw the previous one's result: together they stored 1..200.
          assert.deepEqual([...stored].sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 200 }, (_, i) => i + 1));
        });
        it('the increment check catches a get-then-set update (so it can fail)', async () => {
          const cell = shape.cell<number>(s, 'up-naive');
          const naive = async (fn: UpdateFn<number>) => {
            const next = fn(await cell.get());
            await cell.set(next);
            return next;
          };
          await incrementConcurrently(naive, 200);
          assert.ok(((await cell.get()) ?? 0) < 200);
        });
        it('creates from missing, and deletes when fn returns undefined', async () => {
          const cell = shape.cell<{ n: number }>(s, 'up-delete');
          const seen: unknown[] = [];
          assert.deepEqual(await cell.update((current) => (seen.push(current), { n: 1 })), { n: 1 });
          assert.deepEqual(await cell.get(), { n: 1 });
          assert.equal(await cell.update((current) => (seen.push(current), undefined)), undefined);
          assert.equal(await cell.get(), undefined);
          assert.equal(await cell.update(() => undefined), undefined); // deleting nothing is fine
          assert.deepEqual(seen, [undefined, { n: 1 }]);
        });
        it('changes nothing when fn throws, and rejects with that error', async () => {
          const cell = shape.cell<{ list: number[] }>(s, 'up-throw');
          await cell.set({ list: [1] });
          const boom = new Error('boom');
          await assert.rejects(
            cell.update((current) => {
              current?.list.push(2); // mutating the copy first must not leak into the store
              throw boom;
            }),
            (err) => err === boom,
          );
          assert.deepEqual(await cell.get(), { list: [1] });
          const missing = shape.cell<number>(s, 'up-throw-missing');
          await assert.rejects(missing.update(() => { throw boom; }), (err) => err === boom);
          assert.equal(await missing.get(), undefined);
        });
        it('rejects a result JSON cannot hold, or a promise, changing nothing', async () => {
          const cell = shape.cell<unknown>(s, 'up-bad');
          await cell.set('kept');
          await assert.rejects(cell.update(() => () => 1), StorageInvalidArgumentError);
          await assert.rejects(cell.update(() => Promise.resolve(1)), StorageInvalidArgumentError);
          assert.equal(await cell.get(), 'kept');
        });
        it('passes fn a copy and resolves to a JSON copy of what it returned', async () => {
          const cell = shape.cell<{ list: number[]; at?: unknown; gone?: unknown }>(s, 'up-copy');
          await cell.set({ list: [1] });
          let given: { list: number[] } | undefined;
          let returned: { list: number[]; at?: unknown; gone?: unknown } | undefined;
          const stored = await cell.update((current) => {
            given = current;
            returned = { list: [...(current?.list ?? []), 2], at: new Date(0), gone: undefined };
            return returned;
          });
          assert.deepEqual(stored, { list: [1, 2], at: '1970-01-01T00:00:00.000Z' });
          assert.notEqual(stored, returned);
          given?.list.push(99);
          returned?.list.push(99);
          stored?.list.push(99);
          assert.deepEqual(await cell.get(), { list: [1, 2], at: '1970-01-01T00:00:00.000Z' });
        });
      });
    }

    describe('archive', () => {
      // Fixture: times chosen so that two items share a timestamp and insertion order breaks the tie.
      let a: ArchiveStore<{ body: string }>;
      const ids: Record<string, string> = {};
      before(async () => {
        a = s.archive('a.example', 'archive-q');
        const items: [string, number, string][] = [
          ['m1', 1000, 'juliet@a.example/balcony'],
          ['m2', 2000, 'nurse@a.example'],
          ['m3', 3000, 'juliet@a.example/garden'],
          ['m4', 3000, 'juliet@a.example'],
          ['m5', 5000, 'tybalt@b.example/sword'],
          ['m0', 500, 'juliet@a.example/balcony'], // appended last, but oldest
        ];
        for (const [body, when, withJid] of items) ids[body] = await a.append('romeo', { when, with: withJid, value: { body } });
        await a.append('mercutio', { when: 1000, with: 'juliet@a.example', value: { body: 'other user' } });
      });
      const bodies = async (q?: ArchiveQuery) => (await a.find('romeo', q)).map((item) => item.value.body);
      const id = (body: string): string => ids[body] ?? assert.fail(`no id for ${body}`);

      it('append returns distinct, non-empty ids and find returns full items', async () => {
        assert.equal(new Set(Object.values(ids)).size, 6);
        const [first] = await a.find('romeo', { limit: 1 });
        assert.deepEqual(first, { id: id('m0'), when: 500, with: 'juliet@a.example/balcony', value: { body: 'm0' } });
      });
      it('orders by time, then by insertion for equal times', async () => {
        assert.deepEqual(await bodies(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
      });
      it('reverse gives newest first', async () => {
        assert.deepEqual(await bodies({ reverse: true }), ['m5', 'm4', 'm3', 'm2', 'm1', 'm0']);
      });
      it('start and end are inclusive', async () => {
        assert.deepEqual(await bodies({ start: 2000 }), ['m2', 'm3', 'm4', 'm5']);
        assert.deepEqual(await bodies({ end: 3000 }), ['m0', 'm1', 'm2', 'm3', 'm4']);
        assert.deepEqual(await bodies({ start: 1000, end: 3000 }), ['m1', 'm2', 'm3', 'm4']);
        assert.deepEqual(await bodies({ start: 3001, end: 4999 }), []);
      });
      it('with: a bare JID matches every resource, a full JID only itself', async () => {
        assert.deepEqual(await bodies({ with: 'juliet@a.example' }), ['m0', 'm1', 'm3', 'm4']);
        assert.deepEqual(await bodies({ with: 'juliet@a.example/balcony' }), ['m0', 'm1']);
        assert.deepEqual(await bodies({ with: 'juliet@a.example/nowhere' }), []);
        assert.deepEqual(await bodies({ with: 'juliet@a.exampl' }), []);
      });
      it('after and before are exclusive and follow (time, insertion) order', async () => {
        assert.deepEqual(await bodies({ after: id('m3') }), ['m4', 'm5']);
        assert.deepEqual(await bodies({ before: id('m4') }), ['m0', 'm1', 'm2', 'm3']);
        assert.deepEqual(await bodies({ after: id('m0'), before: id('m4') }), ['m1', 'm2', 'm3']);
        assert.deepEqual(await bodies({ after: id('m5') }), []);
      });
      it('limit takes from the front of the order; with reverse, the newest', async () => {
        assert.deepEqual(await bodies({ limit: 2 }), ['m0', 'm1']);
        assert.deepEqual(await bodies({ limit: 2, reverse: true }), ['m5', 'm4']);
        assert.deepEqual(await bodies({ limit: 0 }), []);
        // A MAM "last page before X": reverse + before + limit.
        assert.deepEqual(await bodies({ before: id('m4'), reverse: true, limit: 2 }), ['m3', 'm2']);
      });
      it('ids selects exactly those items, in archive order', async () => {
        assert.deepEqual(await bodies({ ids: [id('m5'), id('m1'), 'no-such-id'] }), ['m1', 'm5']);
        assert.deepEqual(await bodies({ ids: [] }), []);
      });
      it('filters combine', async () => {
        assert.deepEqual(await bodies({ with: 'juliet@a.example', start: 1000, after: id('m1'), limit: 1 }), ['m3']);
      });
      it('an unknown after/before id is item-not-found, for find, count and delete', async () => {
        await assert.rejects(a.find('romeo', { after: 'nope' }), StorageItemNotFoundError);
        await assert.rejects(a.count('romeo', { before: 'nope' }), (err: unknown) => {
          assert.ok(err instanceof StorageItemNotFoundError);
          assert.equal(err.condition, 'item-not-found');
          assert.equal(err.id, 'nope');
          return true;
        });
        await assert.rejects(a.delete('romeo', { after: 'nope' }), StorageItemNotFoundError);
        // Another user's id is unknown here too.
        const [other] = await a.find('mercutio');
        await assert.rejects(a.find('romeo', { after: other?.id ?? 'x' }), StorageItemNotFoundError);
      });
      it('count equals the length of find for the same query', async () => {
        const queries: (ArchiveQuery | undefined)[] = [
          undefined,
          {},
          { limit: 3 },
          { with: 'juliet@a.example' },
          { start: 1000, end: 3000 },
          { after: id('m1'), limit: 10 },
          { ids: [id('m2'), id('m3')] },
          { reverse: true, limit: 4, before: id('m5') },
        ];
        for (const q of queries) assert.equal(await a.count('romeo', q), (await a.find('romeo', q)).length, JSON.stringify(q));
        assert.equal(await a.count('romeo'), 6);
        assert.equal(await a.count('mercutio'), 1);
        assert.equal(await a.count('nobody'), 0);
      });
      it('rejects bad queries', async () => {
        await assert.rejects(a.find('romeo', { limit: -1 }), StorageInvalidArgumentError);
        await assert.rejects(a.find('romeo', { limit: 1.5 }), StorageInvalidArgumentError);
        await assert.rejects(a.find('romeo', { start: Number.NaN }), StorageInvalidArgumentError);
      });

      it('append defaults: when = now, with = "", fresh id; a caller-chosen id is kept', async () => {
        const d = s.archive<string>('a.example', 'archive-defaults');
        const t0 = Date.now();
        const generated = await d.append('u', { value: 'x' });
        const chosen = await d.append('u', { value: 'y', id: 'my-id-1' });
        assert.equal(chosen, 'my-id-1');
        assert.ok(generated.length >= 16);
        const [first, second] = await d.find('u');
        assert.equal(first?.id, generated);
        assert.equal(first?.with, '');
        assert.ok((first?.when ?? 0) >= t0 && (first?.when ?? 0) <= Date.now());
        assert.equal(second?.id, 'my-id-1');
      });
      it('a duplicate id in the same user\'s store is refused; other users and stores may reuse it', async () => {
        const d = s.archive<string>('a.example', 'archive-dup');
        await d.append('u', { value: 'x', id: 'same' });
        await assert.rejects(d.append('u', { value: 'y', id: 'same' }), StorageDuplicateIdError);
        await d.append('v', { value: 'z', id: 'same' });
        await s.archive<string>('a.example', 'archive-dup2').append('u', { value: 'w', id: 'same' });
        assert.deepEqual((await d.find('u')).map((i) => i.value), ['x']);
      });
      it('delete removes exactly what the query selects and returns the count', async () => {
        const d = s.archive<number>('a.example', 'archive-delete');
        for (let i = 0; i < 10; i++) await d.append('u', { when: 1000 + i, value: i, with: i % 2 ? 'odd@x' : 'even@x' });
        await d.append('other', { when: 1000, value: 99 });
        await s.archive<number>('a.example', 'archive-delete-2').append('u', { when: 1000, value: 77 });
        // Oldest two (an offline-queue style trim).
        assert.equal(await d.delete('u', { limit: 2 }), 2);
        assert.deepEqual((await d.find('u')).map((i) => i.value), [2, 3, 4, 5, 6, 7, 8, 9]);
        assert.equal(await d.delete('u', { with: 'odd@x' }), 4);
        assert.deepEqual((await d.find('u')).map((i) => i.value), [2, 4, 6, 8]);
        assert.equal(await d.delete('u', { reverse: true, limit: 1 }), 1);
        assert.deepEqual((await d.find('u')).map((i) => i.value), [2, 4, 6]);
        assert.equal(await d.delete('u'), 3);
        assert.equal(await d.count('u'), 0);
        assert.equal(await d.delete('u'), 0);
        // Nothing outside this user and store was touched.
        assert.equal(await d.count('other'), 1);
        assert.equal(await s.archive('a.example', 'archive-delete-2').count('u'), 1);
      });
      it('whole-archive and whole-conversation counts stay exact through appends and deletes', async () => {
        // The SQLite driver answers these counts from kept per-conversation totals: any drift
        // from what find returns would show here.
        const jids = ['a@x', 'a@x/r1', 'a@x/r2', 'b@x', 'b@x/r', ''];
        const op = fc.oneof(
          fc.record({ kind: fc.constant('append' as const), user: fc.constantFrom('u', 'v'), jid: fc.constantFrom(...jids), when: fc.integer({ min: 0, max: 20 }) }),
          fc.record({ kind: fc.constant('delete' as const), user: fc.constantFrom('u', 'v'), jid: fc.option(fc.constantFrom(...jids), { nil: undefined }), limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }), reverse: fc.boolean() }),
        );
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
            const d = s.archive<number>('a.example', `archive-counts-${++run}`);
            for (const o of ops) {
              if (o.kind === 'append') await d.append(o.user, { when: o.when, with: o.jid, value: 1 });
              else await d.delete(o.user, { with: o.jid, limit: o.limit, reverse: o.reverse });
            }
            for (const user of ['u', 'v']) {
              for (const q of [undefined, ...jids.filter((j) => j !== '').map((j) => ({ with: j }))]) {
                assert.equal(await d.count(user, q), (await d.find(user, q)).length, `${user} ${JSON.stringify(q)}`);
              }
            }
          }),
          { numRuns: 60 },
        );
      });
      it('keeps values exactly (JSON round trip) and isolates hosts', async () => {
        const v = { body: 'héllo <b>&amp;</b> \u{1F600}', nested: { n: [1, null, true] } };
        await s.archive('a.example', 'archive-values').append('u', { value: v, id: 'x1' });
        assert.deepEqual((await s.archive('a.example', 'archive-values').find('u'))[0]?.value, v);
        assert.deepEqual(await s.archive('b.example', 'archive-values').find('u'), []);
      });
    });

    describe('accounts', () => {
      it('create returns true once, then false; get returns the account', async () => {
        const t0 = Date.now();
        assert.equal(await s.accounts.create('acc.example', 'romeo', CREDS), true);
        assert.equal(await s.accounts.create('acc.example', 'romeo', CREDS_256), false);
        const account = await s.accounts.get('acc.example', 'romeo');
        assert.ok(account);
        assert.equal(account.username, 'romeo');
        assert.equal(account.host, 'acc.example');
        assert.deepEqual(account.credentials, CREDS); // the failed create changed nothing
        assert.ok(account.created >= t0 && account.created <= Date.now());
        assert.equal(await s.accounts.get('acc.example', 'nobody'), undefined);
        assert.equal(await s.accounts.get('other.example', 'romeo'), undefined);
        assert.equal(await s.accounts.exists('acc.example', 'romeo'), true);
        assert.equal(await s.accounts.exists('acc.example', 'nobody'), false);
        assert.equal(await s.accounts.exists('other.example', 'romeo'), false);
      });
      it('setCredentials replaces all credentials, and is false for a missing account', async () => {
        await s.accounts.create('acc.example', 'setcred', CREDS);
        assert.equal(await s.accounts.setCredentials('acc.example', 'setcred', CREDS_256), true);
        assert.deepEqual((await s.accounts.get('acc.example', 'setcred'))?.credentials, CREDS_256);
        assert.equal(await s.accounts.setCredentials('acc.example', 'ghost', CREDS), false);
        assert.equal(await s.accounts.get('acc.example', 'ghost'), undefined);
      });
      it('list (sorted) and count are per host', async () => {
        for (const u of ['zoe', 'adam', 'mike']) await s.accounts.create('list.example', u, CREDS_256);
        await s.accounts.create('list2.example', 'solo', CREDS_256);
        assert.deepEqual(await s.accounts.list('list.example'), ['adam', 'mike', 'zoe']);
        assert.equal(await s.accounts.count('list.example'), 3);
        assert.deepEqual(await s.accounts.list('list2.example'), ['solo']);
        assert.equal(await s.accounts.count('empty.example'), 0);
        assert.deepEqual(await s.accounts.list('empty.example'), []);
      });
      it('returns copies of credentials', async () => {
        await s.accounts.create('acc.example', 'copy', CREDS_256);
        const account = await s.accounts.get('acc.example', 'copy');
        const c = account?.credentials['SCRAM-SHA-256'];
        assert.ok(c);
        c.iterations = 1;
        assert.equal((await s.accounts.get('acc.example', 'copy'))?.credentials['SCRAM-SHA-256']?.iterations, 4096);
      });
      it('refuses anything that is not well-formed SCRAM credentials (no passwords, no weak counts)', async () => {
        const c256 = CREDS_256['SCRAM-SHA-256'];
        assert.ok(c256);
        const bad: unknown[] = [
          { password: 'hunter2' },
          { ...CREDS_256, password: 'hunter2' },
          { 'SCRAM-SHA-256': { ...c256, iterations: 1000 } },
          { 'SCRAM-SHA-256': { ...c256, storedKey: Buffer.alloc(20).toString('base64') } },
          { 'SCRAM-SHA-256': { ...c256, salt: 'not base64!' } },
          { 'SCRAM-SHA-256': { ...c256, serverKey: '' } },
          null,
        ];
        for (const creds of bad) {
          // Deliberately malformed input, so it is cast past the type checker.
          await assert.rejects(s.accounts.create('acc.example', 'bad', creds as AccountCredentials), StorageInvalidArgumentError);
        }
        assert.equal(await s.accounts.get('acc.example', 'bad'), undefined);
        await s.accounts.create('acc.example', 'bad2', CREDS);
        await assert.rejects(
          s.accounts.setCredentials('acc.example', 'bad2', { password: 'x' } as AccountCredentials),
          StorageInvalidArgumentError,
        );
        assert.deepEqual((await s.accounts.get('acc.example', 'bad2'))?.credentials, CREDS);
      });
      it('delete removes the account and all its data in every store of every shape', async () => {
        const host = 'del.example';
        const seed = async (user: string, h = host) => {
          await s.keyval(h, 'roster').set(user, { items: [user] });
          await s.keyval(h, 'vcard').set(user, 'card');
          await s.map(h, 'pep').set(user, 'urn:x', 1);
          await s.map(h, 'private').set(user, 'ns', 'xml');
          await s.archive(h, 'offline').append(user, { value: 'msg' });
          await s.archive(h, 'mam').append(user, { value: 'msg' });
        };
        await s.accounts.create(host, 'juliet', CREDS);
        await s.accounts.create(host, 'nurse', CREDS);
        await s.accounts.create('other.example', 'juliet', CREDS);
        await seed('juliet');
        await seed('nurse');
        await seed('juliet', 'other.example');

        assert.equal(await s.accounts.delete(host, 'juliet'), true);
        assert.equal(await s.accounts.get(host, 'juliet'), undefined);
        assert.equal(await s.accounts.exists(host, 'juliet'), false);
        assert.equal(await s.keyval(host, 'roster').get('juliet'), undefined);
        assert.equal(await s.keyval(host, 'vcard').get('juliet'), undefined);
        assert.deepEqual(await s.map(host, 'pep').keys('juliet'), []);
        assert.deepEqual(await s.map(host, 'private').keys('juliet'), []);
        assert.equal(await s.archive(host, 'offline').count('juliet'), 0);
        assert.equal(await s.archive(host, 'mam').count('juliet'), 0);
        assert.deepEqual(await s.accounts.list(host), ['nurse']);

        // Other users on the host, and the same username on another host, are untouched.
        for (const [h, u] of [[host, 'nurse'], ['other.example', 'juliet']] as const) {
          assert.ok(await s.accounts.get(h, u));
          assert.deepEqual(await s.keyval(h, 'roster').get(u), { items: [u] });
          assert.equal(await s.map(h, 'pep').get(u, 'urn:x'), 1);
          assert.equal(await s.archive(h, 'mam').count(u), 1);
        }
        // Deleting again reports that there was nothing; a re-created account starts empty.
        assert.equal(await s.accounts.delete(host, 'juliet'), false);
        assert.equal(await s.accounts.create(host, 'juliet', CREDS_256), true);
        assert.deepEqual((await s.accounts.get(host, 'juliet'))?.credentials, CREDS_256);
        assert.equal(await s.archive(host, 'mam').count('juliet'), 0);
      });
    });

    describe('archiveSizes', () => {
      it('counts items per host and archive store, following appends and deletes', async () => {
        assert.ok(s.archiveSizes, 'every built-in driver tells its archive sizes (metrics)');
        const sizes = async () => new Map((await s.archiveSizes!()).filter((r) => r.host.startsWith('sizes')).map((r) => [`${r.host} ${r.store}`, r.items]));
        await s.archive('sizes.example', 'mam').append('u', { with: 'a@x', value: 1 });
        await s.archive('sizes.example', 'mam').append('u', { with: 'b@x', value: 2 });
        await s.archive('sizes.example', 'mam').append('v', { value: 3 });
        await s.archive('sizes.example', 'offline').append('u', { value: 4 });
        await s.archive('sizes2.example', 'mam').append('u', { value: 5 });
        assert.deepEqual(await sizes(), new Map([['sizes.example mam', 3], ['sizes.example offline', 1], ['sizes2.example mam', 1]]));
        await s.archive('sizes.example', 'mam').delete('u', { with: 'a@x' });
        assert.equal((await sizes()).get('sizes.example mam'), 2);
      });
    });

    describe('deleteUserData', () => {
      it('wipes every store of the user on that host but keeps the account', async () => {
        const host = 'wipe.example';
        await s.accounts.create(host, 'u', CREDS);
        await s.keyval(host, 'k').set('u', 1);
        await s.map(host, 'm').set('u', 'x', 1);
        await s.archive(host, 'a').append('u', { value: 1 });
        await s.keyval(host, 'k').set('keep', 2);
        await s.keyval('elsewhere.example', 'k').set('u', 3);
        await s.deleteUserData(host, 'u');
        assert.equal(await s.keyval(host, 'k').get('u'), undefined);
        assert.equal((await s.map(host, 'm').getAll('u')).size, 0);
        assert.equal(await s.archive(host, 'a').count('u'), 0);
        assert.ok(await s.accounts.get(host, 'u'));
        assert.equal(await s.keyval(host, 'k').get('keep'), 2);
        assert.equal(await s.keyval('elsewhere.example', 'k').get('u'), 3);
      });
    });
  });

  describe(`storage close: ${factory.name}`, () => {
    it('is idempotent and makes later calls reject', async () => {
      const s = await factory.open();
      const kv = s.keyval<number>('a.example', 'k');
      await kv.set('u', 1);
      await s.close();
      await s.close();
      await assert.rejects(kv.get('u'), /closed/);
      await assert.rejects(kv.update('u', () => 2), /closed/);
      await assert.rejects(s.map<number>('a.example', 'm').update('u', 'k', () => 2), /closed/);
      await assert.rejects(s.accounts.count('a.example'), /closed/);
      await assert.rejects(s.archive('a.example', 'x').find('u'), /closed/);
      await assert.rejects(s.deleteUserData('a.example', 'u'), /closed/);
      factory.cleanup();
    });
  });
}
