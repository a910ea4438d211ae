/**
 * Files on disk, under `data_dir/upload/<component domain>/`:
 *
 *   files/<id>         complete uploads, named by their random slot id only
 *   tmp/<id>.<rand>    uploads in progress (never served; removed on failure and at start)
 *
 * A body is streamed to a temporary file (never whole in memory), flushed to disk (fsync) and
 * then renamed into files/, so a reader sees a whole file or none: an aborted or slow upload
 * leaves nothing visible. Paths are only ever made from ids this module generated (`isSlotId`).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** 18 random bytes, base64url: 24 characters of [A-Za-z0-9_-]. */
export function newSlotId(): string {
  return randomBytes(18).toString('base64url');
}

export function isSlotId(id: string): boolean {
  return /^[A-Za-z0-9_-]{24}$/.test(id);
}

/** The body ran past the size the slot allows (a client lying in Content-Length, or none given). */
export class TooManyBytes extends Error {}
/** The body ended before the size the slot allows. */
export class TooFewBytes extends Error {}

export class UploadDir {
  readonly files: string;
  readonly tmp: string;

  constructor(root: string) {
    this.files = join(root, 'files');
    this.tmp = join(root, 'tmp');
  }

  /** Create the folders (owner only) and remove temporary files a crash left behind. */
  async prepare(): Promise<number> {
    await mkdir(this.files, { recursive: true, mode: 0o700 });
    await mkdir(this.tmp, { recursive: true, mode: 0o700 });
    const left = await readdir(this.tmp);
    for (const name of left) await rm(join(this.tmp, name), { force: true });
    return left.length;
  }

  pathOf(id: string): string {
    if (!isSlotId(id)) throw new Error(`not a slot id: ${JSON.stringify(id)}`);
    return join(this.files, id);
  }

  /**
   * Write exactly `size` bytes of `body` to a temporary file and flush it; returns what commits
   * it (renames it into place) or drops it. Rejects (leaving nothing) with TooManyBytes,
   * TooFewBytes, or the body's own error (the client went away, the HTTP limit).
   */
  async receive(id: string, body: Readable, size: number, onBytes: (n: number) => void): Promise<{ commit(): Promise<void>; drop(): Promise<void> }> {
    const final = this.pathOf(id);
    const temp = join(this.tmp, `${id}.${randomBytes(6).toString('hex')}`);
    let received = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > size) {
          done(new TooManyBytes(`more than the ${size} bytes of the slot`));
          return;
        }
        onBytes(chunk.length);
        done(null, chunk);
      },
    });
    try {
      // 'wx': never over an existing file; flush: fsync before close, so the rename below
      // publishes bytes that are on disk.
      await pipeline(body, count, createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }));
      if (received !== size) throw new TooFewBytes(`${received} of the ${size} bytes of the slot`);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    return {
      commit: async () => {
        await rename(temp, final);
        await this.syncFilesDir();
      },
      drop: () => unlink(temp).catch(() => {}),
    };
  }

  /** Remove a stored file; false when it was not there. */
  async remove(id: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** The rename is durable once the folder itself is flushed. */
  private async syncFilesDir(): Promise<void> {
    const dir = await open(this.files, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
