import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverLogger } from '../logger.js';
import { formatImage } from './quota.js';

/**
 * Keeps one formatted image ready, of the size last asked for, so that making a workspace disk is a link and a
 * mount instead of a mkfs too (mkfs is about half of a disk's create cost). Images are uid-agnostic (see
 * `formatImage`), and sessions of one server mostly share one size (the server default), so one image of the
 * latest size is enough; an image of a size no longer asked for is deleted at the next fill.
 *
 * `dir` belongs to the pool alone and must be on the filesystem where disks are made (images are hard-linked into
 * place). Nothing is made before the first `take()` + `fill()`. Leftovers of an earlier process are removed by
 * `clear()`.
 */
export class FormattedImagePool {
  #idle: { path: string; sizeMib: number } | undefined;
  #filling: Promise<void> | undefined;
  #wanted: number | undefined;
  #closed = false;

  constructor(
    readonly dir: string,
    private readonly log: DriverLogger,
  ) {}

  /**
   * A ready image of `sizeMib`, now the caller's (to move into place, or delete), or undefined when none is ready.
   * Synchronous, so never handed out twice. Remembers the size for the next `fill()`.
   */
  take(sizeMib: number): string | undefined {
    this.#wanted = sizeMib;
    const idle = this.#idle;
    if (idle === undefined || idle.sizeMib !== sizeMib) return undefined;
    this.#idle = undefined;
    return idle.path;
  }

  /** Formats an image of the size last asked for, in the background, unless one is ready or being made. */
  fill(): void {
    const size = this.#wanted;
    if (this.#closed || size === undefined || this.#filling !== undefined || this.#idle?.sizeMib === size) return;
    this.#filling = this.#make(size).finally(() => (this.#filling = undefined));
  }

  /** `fill()`, resolving once that image is ready (or failed). */
  async warm(): Promise<void> {
    this.fill();
    await this.#filling;
  }

  /** Stops filling and deletes the idle image. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#filling;
    await this.#drop();
  }

  /** Removes the pool directory and whatever an earlier process left in it. */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  async #make(sizeMib: number): Promise<void> {
    await this.#drop(); // of a size no longer asked for
    const path = join(this.dir, `${randomBytes(6).toString('hex')}.img`);
    // Formatted under a temporary name and renamed when done: a `.img` in the pool is always a finished image.
    const part = `${path}.part`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await formatImage(part, sizeMib);
      await rename(part, path);
    } catch (err) {
      await rm(part, { force: true });
      // The next create makes its own image; a later fill tries again.
      this.log.warn({ err: (err as Error).message }, 'formatting a workspace disk image ahead failed');
      return;
    }
    if (this.#closed) await rm(path, { force: true });
    else this.#idle = { path, sizeMib };
  }

  async #drop(): Promise<void> {
    const idle = this.#idle;
    this.#idle = undefined;
    if (idle !== undefined) await rm(idle.path, { force: true });
  }
}
