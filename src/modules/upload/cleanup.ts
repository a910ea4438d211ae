/**
 * Removing files: those older than `expire_after`, oldest first in batches of `cleanup_batch`
 * every `cleanup_interval` on the module clock (a pass goes on batch after batch, yielding
 * between them, until nothing more has expired), and all of an account's files when the account
 * is deleted. The record goes after the file, so a failure leaves a record to try again with,
 * never a file nothing points to.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { UploadState } from './state.js';
import type { StoredFile } from './store.js';

export class Cleaner {
  private running: Promise<number> | undefined;

  constructor(private readonly state: UploadState) {}

  /** One pass over everything expired (joins a pass already running); resolves with how many files went. */
  expire(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<number> {
    const { options, records } = this.state;
    let total = 0;
    for (;;) {
      const batch = await records.expired(this.state.now() - options.expire_after, options.cleanup_batch);
      if (batch.length === 0) break;
      total += await this.remove(batch);
      if (batch.length < options.cleanup_batch) break;
      await yieldToLoop(); // let requests in between batches
    }
    if (total > 0) {
      this.state.metrics.expired(total);
      this.state.log.info({ files: total }, 'expired uploads deleted');
    }
    return total;
  }

  /** Every file of `owner` (a bare JID): their account was deleted. */
  async removeOwner(owner: string): Promise<number> {
    const files = await this.state.records.ofOwner(owner);
    const n = await this.remove(files);
    if (n > 0) {
      this.state.metrics.deleted(n);
      this.state.log.info({ owner, files: n }, 'uploads of a deleted account deleted');
    }
    return n;
  }

  private async remove(files: StoredFile[]): Promise<number> {
    const gone: string[] = [];
    for (const f of files) {
      try {
        await this.state.dir.remove(f.id);
        gone.push(f.id);
      } catch (err) {
        this.state.log.warn({ err, id: f.id }, 'could not delete an uploaded file; will try again');
      }
    }
    await this.state.records.remove(gone);
    return gone.length;
  }
}
