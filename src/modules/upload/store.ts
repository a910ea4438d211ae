/**
 * The records of stored files: one archive store of the service (user '' under the component's
 * domain), an item per file with the slot id as its id, the upload time as `when` and the
 * owner's bare JID as `with`. The archive's indexes answer everything the service asks: by id (a
 * download), by owner (quota, account deletion), by time (daily quota, expiry, oldest first).
 */
import type { ArchiveStore } from '../../storage/types.js';

export interface FileRecord {
  name: string;
  size: number;
  type: string;
}

export interface StoredFile extends FileRecord {
  id: string;
  owner: string;
  /** Upload time, ms since the epoch. */
  when: number;
}

const SERVICE = '';
const DAY = 24 * 60 * 60 * 1000;

export class FileRecords {
  constructor(private readonly archive: ArchiveStore<FileRecord>) {}

  async get(id: string): Promise<StoredFile | undefined> {
    const [item] = await this.archive.find(SERVICE, { ids: [id] });
    return item && { id: item.id, owner: item.with, when: item.when, ...item.value };
  }

  async add(file: StoredFile): Promise<void> {
    await this.archive.append(SERVICE, { id: file.id, when: file.when, with: file.owner, value: { name: file.name, size: file.size, type: file.type } });
  }

  async remove(ids: string[]): Promise<number> {
    return ids.length === 0 ? 0 : this.archive.delete(SERVICE, { ids });
  }

  async ofOwner(owner: string): Promise<StoredFile[]> {
    return (await this.archive.find(SERVICE, { with: owner })).map((i) => ({ id: i.id, owner: i.with, when: i.when, ...i.value }));
  }

  /** Bytes the owner has stored, and bytes uploaded in the 24 hours before `now` with the oldest of those uploads. */
  async usage(owner: string, now: number): Promise<{ stored: number; today: number; oldestToday: number | undefined }> {
    let stored = 0;
    let today = 0;
    let oldestToday: number | undefined;
    for (const f of await this.ofOwner(owner)) {
      stored += f.size;
      if (f.when > now - DAY) {
        today += f.size;
        if (oldestToday === undefined || f.when < oldestToday) oldestToday = f.when;
      }
    }
    return { stored, today, oldestToday };
  }

  /** The oldest files uploaded at or before `cutoff`, at most `limit`. */
  async expired(cutoff: number, limit: number): Promise<StoredFile[]> {
    return (await this.archive.find(SERVICE, { end: cutoff, limit })).map((i) => ({ id: i.id, owner: i.with, when: i.when, ...i.value }));
  }

  count(): Promise<number> {
    return this.archive.count(SERVICE);
  }
}

export const DAY_MS = DAY;
