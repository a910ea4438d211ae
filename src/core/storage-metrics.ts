/**
 * Storage timing for operators (docs/metrics.md): wraps the server's driver so every store call
 * is timed into `canto_storage_operation_seconds{shape, op}` and every rejected one counted in
 * `canto_storage_errors_total{shape, op}`; the driver's archive sizes (when it can tell) become
 * `canto_storage_archive_items{host, store}`.
 *
 * The wrapper is on the path of every stored message, so it costs a clock read on each side and a
 * bound histogram series (src/core/fast-histogram.ts), no label hashing; the wrapping store
 * objects are small class instances (drivers may hand out a new store object per call).
 */
import type {
  AccountStore, ArchiveItem, ArchiveQuery, ArchiveStore, KeyValStore, MapStore, StorageDriver, UpdateFn,
} from '../storage/types.js';
import { FastHistogram, type HistogramSeries } from './fast-histogram.js';
import { METRIC_PREFIX } from './metric-names.js';
import type { Metrics } from './metrics.js';

type Shape = 'account' | 'keyval' | 'map' | 'archive';

/** Seconds: storage calls take tens of microseconds on SQLite, milliseconds over a network. */
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** How often the archive sizes are read at most (a scrape every few seconds must not rescan). */
const ARCHIVE_SIZES_TTL_MS = 60_000;

class Op {
  errors = 0;
  constructor(
    readonly shape: Shape,
    readonly op: string,
    readonly series: HistogramSeries,
  ) {}

  /** Times the call; the promise settles as the driver's did. */
  time<T>(call: Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    return call.then(
      (value) => {
        this.series.observe(Number(process.hrtime.bigint() - start) / 1e9);
        return value;
      },
      (err: unknown) => {
        this.series.observe(Number(process.hrtime.bigint() - start) / 1e9);
        this.errors++;
        throw err;
      },
    );
  }
}

type Ops<K extends string> = Record<K, Op>;

class TimedKeyVal<T> implements KeyValStore<T> {
  constructor(
    private readonly inner: KeyValStore<T>,
    private readonly ops: Ops<'get' | 'set' | 'update'>,
  ) {}
  get(username: string): Promise<T | undefined> {
    return this.ops.get.time(this.inner.get(username));
  }
  set(username: string, value: T | undefined): Promise<void> {
    return this.ops.set.time(this.inner.set(username, value));
  }
  update(username: string, fn: UpdateFn<T>): Promise<T | undefined> {
    return this.ops.update.time(this.inner.update(username, fn));
  }
}

class TimedMap<T> implements MapStore<T> {
  constructor(
    private readonly inner: MapStore<T>,
    private readonly ops: Ops<'get' | 'set' | 'update' | 'getAll' | 'keys'>,
  ) {}
  get(username: string, key: string): Promise<T | undefined> {
    return this.ops.get.time(this.inner.get(username, key));
  }
  set(username: string, key: string, value: T | undefined): Promise<void> {
    return this.ops.set.time(this.inner.set(username, key, value));
  }
  update(username: string, key: string, fn: UpdateFn<T>): Promise<T | undefined> {
    return this.ops.update.time(this.inner.update(username, key, fn));
  }
  getAll(username: string): Promise<Map<string, T>> {
    return this.ops.getAll.time(this.inner.getAll(username));
  }
  keys(username: string): Promise<string[]> {
    return this.ops.keys.time(this.inner.keys(username));
  }
}

class TimedArchive<T> implements ArchiveStore<T> {
  constructor(
    private readonly inner: ArchiveStore<T>,
    private readonly ops: Ops<'append' | 'find' | 'count' | 'delete'>,
  ) {}
  append(username: string, item: { when?: number; with?: string; value: T; id?: string }): Promise<string> {
    return this.ops.append.time(this.inner.append(username, item));
  }
  find(username: string, query?: ArchiveQuery): Promise<ArchiveItem<T>[]> {
    return this.ops.find.time(this.inner.find(username, query));
  }
  count(username: string, query?: ArchiveQuery): Promise<number> {
    return this.ops.count.time(this.inner.count(username, query));
  }
  delete(username: string, query?: ArchiveQuery): Promise<number> {
    return this.ops.delete.time(this.inner.delete(username, query));
  }
}

class TimedAccounts implements AccountStore {
  constructor(
    private readonly inner: AccountStore,
    private readonly ops: Ops<'create' | 'get' | 'exists' | 'setCredentials' | 'delete' | 'list' | 'count'>,
  ) {}
  create(...a: Parameters<AccountStore['create']>): ReturnType<AccountStore['create']> {
    return this.ops.create.time(this.inner.create(...a));
  }
  get(...a: Parameters<AccountStore['get']>): ReturnType<AccountStore['get']> {
    return this.ops.get.time(this.inner.get(...a));
  }
  exists(...a: Parameters<AccountStore['exists']>): ReturnType<AccountStore['exists']> {
    return this.ops.exists.time(this.inner.exists(...a));
  }
  setCredentials(...a: Parameters<AccountStore['setCredentials']>): ReturnType<AccountStore['setCredentials']> {
    return this.ops.setCredentials.time(this.inner.setCredentials(...a));
  }
  delete(...a: Parameters<AccountStore['delete']>): ReturnType<AccountStore['delete']> {
    return this.ops.delete.time(this.inner.delete(...a));
  }
  list(...a: Parameters<AccountStore['list']>): ReturnType<AccountStore['list']> {
    return this.ops.list.time(this.inner.list(...a));
  }
  count(...a: Parameters<AccountStore['count']>): ReturnType<AccountStore['count']> {
    return this.ops.count.time(this.inner.count(...a));
  }
}

/** The driver, timed; registers the storage metrics on `metrics`. */
export function measureStorage(driver: StorageDriver, metrics: Metrics): StorageDriver {
  const histogram = new FastHistogram(`${METRIC_PREFIX}storage_operation_seconds`, 'Time storage calls took, by store shape and operation', BUCKETS);
  histogram.registerIn(metrics.registry);
  const all: Op[] = [];
  function ops<K extends string>(shape: Shape, names: readonly K[]): Ops<K> {
    const out = {} as Ops<K>;
    for (const op of names) {
      const o = new Op(shape, op, histogram.bind({ shape, op }));
      all.push(o);
      out[op] = o;
    }
    return out;
  }
  const keyvalOps = ops('keyval', ['get', 'set', 'update']);
  const mapOps = ops('map', ['get', 'set', 'update', 'getAll', 'keys']);
  const archiveOps = ops('archive', ['append', 'find', 'count', 'delete']);
  const accounts = new TimedAccounts(driver.accounts, ops('account', ['create', 'get', 'exists', 'setCredentials', 'delete', 'list', 'count']));

  const measure = metrics.scope('core');
  measure.counter('storage_errors_total', 'Storage calls that failed (the database refused or was unreachable), by store shape and operation', ['shape', 'op'], (counter) => {
    for (const o of all) counter.set(o.errors, { shape: o.shape, op: o.op });
  });
  let sizes: { at: number; rows: Array<{ host: string; store: string; items: number }> } | undefined;
  if (driver.archiveSizes) {
    const read = driver.archiveSizes.bind(driver);
    measure.gauge('storage_archive_items', 'Items in archive stores (message archives, offline messages), by host and store; read at most once a minute', ['host', 'store'], async (gauge) => {
      const now = Date.now();
      if (!sizes || now - sizes.at >= ARCHIVE_SIZES_TTL_MS) sizes = { at: now, rows: await read() };
      for (const r of sizes.rows) gauge.set(r.items, { host: r.host, store: r.store });
    });
  }

  return {
    accounts,
    keyval: <T>(host: string, store: string) => new TimedKeyVal<T>(driver.keyval<T>(host, store), keyvalOps),
    map: <T>(host: string, store: string) => new TimedMap<T>(driver.map<T>(host, store), mapOps),
    archive: <T>(host: string, store: string) => new TimedArchive<T>(driver.archive<T>(host, store), archiveOps),
    deleteUserData: (host, username) => driver.deleteUserData(host, username),
    close: () => driver.close(),
    ...(driver.archiveSizes ? { archiveSizes: () => driver.archiveSizes?.() ?? Promise.resolve([]) } : {}),
  };
}
