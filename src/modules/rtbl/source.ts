/**
 * One configured list: a pubsub node on some service (another server's, a local component or
 * an account's PEP). The host subscribes to it (its own domain as the subscriber), fetches all
 * items at start, after each new s2s stream to the service's domain and every
 * `refresh_interval`, applies the notifications (items published or retracted, purge, delete)
 * as they come, and keeps the entries in a keyval store so a restart blocks at once, before (or
 * without) reaching the service.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { KeyValStore } from '../../storage/types.js';
import type { Element } from '../../xml/element.js';
import { iq } from '../../xml/stanza.js';
import { BlockList, type ListFormat } from './blocklist.js';
import { IqErrorAnswer, type IqRequests } from './requests.js';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';

export interface SourceConfig {
  /** The pubsub service (a domain such as xmppbl.org, or an account's bare JID for PEP). */
  jid: string;
  node: string;
  format: ListFormat;
}

/** The keyval value per source (the "username" is the source's key). */
export interface CachedList {
  format: ListFormat;
  entries: string[];
  /** When the service last answered a full fetch (ms since the epoch). */
  fetched?: number;
}

export interface SourceDeps {
  mod: ModuleApi;
  requests: IqRequests;
  store: KeyValStore<CachedList>;
  maxEntries: number;
  /** First delay before trying again after a failed fetch; doubles up to `refreshMs` (or an hour). */
  retryMs: number;
  refreshMs: number;
  /** How many changed entries a log line names (the rest are counted). */
  logEntries: number;
}

/** Live changes are written to the cache at most this often. */
const SAVE_DELAY_MS = 1000;
const MAX_RETRY_MS = 3_600_000;

export class RtblSource {
  readonly list: BlockList;
  /** `service node`: the cache key and the metrics label. */
  readonly key: string;
  /** Full fetches that failed (no answer, an error, a broken answer). */
  failures = 0;
  private syncing: Promise<void> | undefined;
  private retryDelay: number;
  private cancelRetry: (() => void) | undefined;
  private cancelSave: (() => void) | undefined;
  private fetched: number | undefined;
  private stopped = false;

  constructor(
    private readonly deps: SourceDeps,
    readonly config: SourceConfig,
  ) {
    this.list = new BlockList(config.format, deps.maxEntries);
    this.key = `${config.jid} ${config.node}`;
    this.retryDelay = deps.retryMs;
  }

  private get log() {
    return this.deps.mod.log;
  }

  /** Load the entries kept at the last run (nothing when the node's format changed since). */
  async loadCache(): Promise<void> {
    const cached = await this.deps.store.get(this.key);
    if (!cached || cached.format !== this.config.format) return;
    this.list.replace(cached.entries);
    this.fetched = cached.fetched;
    this.log.info({ source: this.key, entries: this.list.size, fetched: cached.fetched === undefined ? undefined : new Date(cached.fetched).toISOString() }, 'block list loaded from the cache');
  }

  /** Whether this source's service sent the stanza (its notifications are never blocked). */
  isService(bare: string): boolean {
    return bare === this.config.jid;
  }

  /** Subscribe and fetch every item; at most one at a time (a call meanwhile joins it). */
  sync(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.syncing ??= this.runSync(reason).finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  get busy(): boolean {
    return this.syncing !== undefined;
  }

  /** When the service last answered a full fetch (ms since the epoch), if ever. */
  get lastFetched(): number | undefined {
    return this.fetched;
  }

  private async runSync(reason: string): Promise<void> {
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    const { jid, node } = this.config;
    const host = this.deps.mod.host;
    this.log.debug({ source: this.key, reason }, 'fetching a block list');
    try {
      // The subscription first, so nothing published between the fetch and it is missed.
      await this.deps.requests.send(iq({ type: 'set', to: jid, from: host }).c('pubsub', { xmlns: NS_PUBSUB }).c('subscribe', { node, jid: host }).root()).catch((err: unknown) => {
        // Some services refuse subscriptions from a domain but serve the items: go on with the fetch.
        if (!this.stopped) this.log.warn({ source: this.key, err: describe(err) }, 'subscribing to a block list failed: changes arrive only with the next fetch');
      });
      if (this.stopped) return;
      const result = await this.deps.requests.send(iq({ type: 'get', to: jid, from: host }).c('pubsub', { xmlns: NS_PUBSUB }).c('items', { node }).root());
      const items = result.getChild('pubsub', NS_PUBSUB)?.getChild('items');
      if (!items || items.attrs.node !== node) throw new Error('the answer has no <items/> for the node');
      const ids = items.getChildren('item').map((i) => i.attrs.id).filter((id): id is string => id !== undefined);
      const changes = this.list.replace(ids);
      this.fetched = this.deps.mod.now();
      this.retryDelay = this.deps.retryMs;
      this.logChanges('block list fetched', changes.added, changes.removed, { reason, ignored: changes.ignored || undefined });
      await this.save();
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retryDelay * 2, Math.max(this.deps.refreshMs, this.deps.retryMs), MAX_RETRY_MS);
      this.log.warn({ source: this.key, err: describe(err), entries: this.list.size, retryInMs: delay }, 'fetching a block list failed: keeping the entries known so far');
      this.cancelRetry = this.deps.mod.setTimeout(() => {
        this.cancelRetry = undefined;
        void this.sync('retry');
      }, delay);
    }
  }

  /**
   * A pubsub event (XEP-0060 §7.1.2, §7.2.2, §8.4, §8.5) from the service. True when it was
   * about this node.
   */
  onEvent(event: Element): boolean {
    const { node } = this.config;
    const items = event.getChild('items');
    if (items?.attrs.node === node) {
      const added: string[] = [];
      const removed: string[] = [];
      for (const child of items.getChildren()) {
        const id = child.attrs.id;
        if (id === undefined) continue;
        if (child.name === 'item') {
          const e = this.list.add(id);
          if (e !== undefined) added.push(e);
        } else if (child.name === 'retract') {
          const e = this.list.remove(id);
          if (e !== undefined) removed.push(e);
        }
      }
      this.logChanges('block list changed', added, removed);
      if (added.length > 0 || removed.length > 0) this.scheduleSave();
      return true;
    }
    const purge = event.getChild('purge');
    const deleted = event.getChild('delete');
    if (purge?.attrs.node === node || deleted?.attrs.node === node) {
      const removed = this.list.clear();
      this.logChanges(purge ? 'block list purged' : 'block list node deleted', [], removed);
      this.scheduleSave();
      return true;
    }
    return false;
  }

  private logChanges(msg: string, added: string[], removed: string[], extra: Record<string, unknown> = {}): void {
    if (added.length === 0 && removed.length === 0 && msg === 'block list changed') return;
    const n = this.deps.logEntries;
    // Entries only: digests for hashed lists, never a JID they stand for (nobody here knows it).
    this.log.info({
      source: this.key,
      entries: this.list.size,
      added: added.length,
      removed: removed.length,
      addedEntries: added.length ? added.slice(0, n) : undefined,
      removedEntries: removed.length ? removed.slice(0, n) : undefined,
      ...extra,
    }, msg);
  }

  private scheduleSave(): void {
    if (this.cancelSave || this.stopped) return;
    this.cancelSave = this.deps.mod.setTimeout(() => {
      this.cancelSave = undefined;
      this.save().catch((err: unknown) => this.log.error({ err, source: this.key }, 'saving the block list cache failed'));
    }, SAVE_DELAY_MS);
  }

  private async save(): Promise<void> {
    await this.deps.store.set(this.key, { format: this.config.format, entries: this.list.values(), fetched: this.fetched });
  }

  /** At unload, before the requests are cancelled: nothing more is sent, failures are not logged. */
  stopping(): void {
    this.stopped = true;
  }

  /** At unload: no more retries; write what changed since the last save. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    if (this.cancelSave) {
      this.cancelSave();
      this.cancelSave = undefined;
      await this.save();
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof IqErrorAnswer) return err.message;
  return err instanceof Error ? err.message : String(err);
}

