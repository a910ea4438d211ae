/**
 * Stored spam and abuse reports: one map store per host (host-level key), one item per report,
 * ids that sort by time. Shared by the module, the `canto reports` command and the admin API, so
 * each reads the same data whether or not a server runs.
 */
import { randomBytes } from 'node:crypto';
import type { MapStore, StorageDriver } from '../../storage/types.js';
import type { Reason } from './parse.js';

export const REPORTS_STORE = 'spam_reports';
const HOST_KEY = '';

/** The reported message, as found (or not) when the report came in. */
export interface ReportEvidence {
  /** Where it was found. */
  source: 'archive' | 'message-requests' | 'room';
  /** The message stanza as stored (XML). */
  stanza: string;
  /** ms since the epoch when it was received. */
  when: number;
}

export interface SpamReport {
  id: string;
  /** ms since the epoch */
  created: number;
  host: string;
  /** The reporting account (bare JID). */
  reporter: string;
  /** The reported JID, as the reporter gave it. */
  jid: string;
  reason: Reason;
  text?: string;
  /** The ids the reporter referred to (XEP-0359). */
  refs: Array<{ kind: 'stanza-id' | 'origin-id'; id: string; by?: string }>;
  evidence?: ReportEvidence;
  /** Where the report came from: a user's block command, or a room moderator. */
  via: 'block' | 'muc';
  room?: string;
  status: 'open' | 'resolved';
  resolved?: { at: number; confirmed: boolean; by: string; published?: boolean };
}

export function reportsStore(storage: Pick<StorageDriver, 'map'>, host: string): MapStore<SpamReport> {
  return storage.map<SpamReport>(host, REPORTS_STORE);
}

/** A new id: time first (base36, fixed width), then randomness; sorts by creation. */
export function newReportId(now: number): string {
  return `${now.toString(36).padStart(9, '0')}${randomBytes(4).toString('hex')}`;
}

export async function saveReport(store: MapStore<SpamReport>, report: SpamReport): Promise<void> {
  await store.set(HOST_KEY, report.id, report);
}

export async function getReport(store: MapStore<SpamReport>, id: string): Promise<SpamReport | undefined> {
  if (!/^[0-9a-z]{9}[0-9a-f]{8}$/.test(id)) return undefined;
  return store.get(HOST_KEY, id);
}

/** Reports, newest first; `status` filters. */
export async function listReports(store: MapStore<SpamReport>, opts: { status?: 'open' | 'resolved'; limit?: number } = {}): Promise<SpamReport[]> {
  const all = [...(await store.getAll(HOST_KEY)).values()].sort((a, b) => (a.id < b.id ? 1 : -1));
  const wanted = opts.status === undefined ? all : all.filter((r) => r.status === opts.status);
  return opts.limit === undefined ? wanted : wanted.slice(0, opts.limit);
}

/** Mark a report resolved; undefined when there is no such report. */
export async function resolveReport(store: MapStore<SpamReport>, id: string, resolution: { at: number; confirmed: boolean; by: string; published?: boolean }): Promise<SpamReport | undefined> {
  if ((await getReport(store, id)) === undefined) return undefined;
  return store.update(HOST_KEY, id, (r) => (r === undefined ? undefined : { ...r, status: 'resolved', resolved: resolution }));
}

/** How many reports are stored (bounded by the module's `max_reports`). */
export async function countReports(store: MapStore<SpamReport>): Promise<number> {
  return (await store.keys(HOST_KEY)).length;
}

/**
 * Delete the resolved reports resolved before `cutoff` (ms since the epoch); open ones stay
 * whatever their age (nobody has looked at them yet). Returns how many were deleted.
 */
export async function deleteResolvedBefore(store: MapStore<SpamReport>, cutoff: number): Promise<number> {
  let deleted = 0;
  for (const [id, r] of await store.getAll(HOST_KEY)) {
    if (r.status !== 'resolved' || (r.resolved?.at ?? r.created) >= cutoff) continue;
    await store.set(HOST_KEY, id, undefined);
    deleted++;
  }
  return deleted;
}
