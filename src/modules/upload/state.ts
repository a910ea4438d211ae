/**
 * What the parts of the upload service share (slot.ts, http-put.ts, http-get.ts, cleanup.ts):
 * its options, secret, file records and folder, the uploads in progress, metrics and URLs.
 */
import type { Logger } from '../../core/logging.js';
import type { UploadDir } from './files.js';
import type { UploadOptions } from './options.js';
import type { FileRecords } from './store.js';

/** Why something was refused: the `reason` label of upload_refusals_total (a fixed set). */
export type RefusalReason =
  | 'not_allowed' | 'bad_filename' | 'bad_size' | 'bad_content_type' | 'too_large' | 'quota' | 'daily_quota'
  | 'token' | 'expired' | 'length' | 'type_mismatch' | 'conflict' | 'aborted';

export interface UploadMetrics {
  slot(): void;
  refused(reason: RefusalReason): void;
  uploaded(bytes: number): void;
  stored(): void;
  served(bytes: number): void;
  expired(n: number): void;
  deleted(n: number): void;
}

export interface InProgress {
  owner: string;
  size: number;
}

export interface UploadState {
  /** The component's domain. */
  readonly domain: string;
  readonly options: UploadOptions;
  readonly secret: Buffer;
  readonly records: FileRecords;
  readonly dir: UploadDir;
  /** Uploads being received, by slot id: a second PUT of the same slot is a conflict, and quota counts them. */
  readonly inProgress: Map<string, InProgress>;
  readonly metrics: UploadMetrics;
  readonly log: Logger;
  /** The module clock's time. */
  now(): number;
  /** The HTTP path files are under: `/upload/<domain>`. */
  readonly path: string;
  /** The base of the URLs handed out (`…/upload/<domain>`, or external_url), once known (HTTP listening). */
  baseUrl(): string | undefined;
  /** The `[http] cors_origins` list. */
  readonly corsOrigins: readonly string[];
}

/** Bytes the owner's uploads in progress will add. */
export function pendingBytes(state: UploadState, owner: string, except?: string): number {
  let n = 0;
  for (const [id, p] of state.inProgress) if (p.owner === owner && id !== except) n += p.size;
  return n;
}
