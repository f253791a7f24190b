import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isId } from '@berth/protocol';

/**
 * The content of Files API uploads: one file per upload, named by its `file_…` id, in a root-only (0700)
 * directory under the data dir. A blob is written to a temporary name and renamed into place once complete, so a
 * crash never leaves a partial blob under a real id. Keyed by id rather than by content hash: deleting a file is
 * one unlink with no reference counting, at the cost of storing duplicate uploads twice.
 */
export class FileBlobs {
  constructor(readonly dir: string) {}

  /** Creates the directory (0700). Idempotent. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  /** Host path of a blob; `id` must be a file id (never a path from a request). */
  path(id: string): string {
    if (!isId('file', id)) throw new Error(`not a file id: ${id}`);
    return join(this.dir, id);
  }

  /**
   * Streams `body` into the blob of `id` and returns its size and SHA-256. Nothing is left behind on failure
   * (including a body that errors half-way, e.g. because it exceeded the upload limit).
   */
  async write(id: string, body: Readable): Promise<{ size: number; sha256: string }> {
    const dest = this.path(id);
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { size, sha256: hash.digest('hex') };
  }

  /** A read stream of the blob (fails with ENOENT when it is missing). */
  async open(id: string): Promise<ReadStream> {
    const p = this.path(id);
    await stat(p);
    return createReadStream(p);
  }

  /** Removes the blob; a missing blob is fine. */
  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }
}
