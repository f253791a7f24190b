import { SandboxDriverError } from '../errors.js';

/** A range of host uids reserved for sandboxes: `start` … `start + count - 1`. */
export interface UidRange {
  start: number;
  count: number;
}

/** The default range: far above regular users and system accounts, below the 2^31 signed limit. */
export const DEFAULT_UID_RANGE: UidRange = { start: 200_000, count: 60_000 };

/**
 * Hands out one host uid (also used as the gid) per sandbox, distinct among the sandboxes this driver knows.
 * Allocation is synchronous, so two concurrent create() calls can never get the same uid. The range must be
 * dedicated to one berthd data directory: the allocator knows only the sandboxes recorded there.
 */
export class UidAllocator {
  readonly #used = new Set<number>();
  #cursor: number;

  constructor(readonly range: UidRange) {
    const { start, count } = range;
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(count) ||
      start < 1000 ||
      count < 1 ||
      start + count > 2 ** 31 - 2
    )
      throw new SandboxDriverError(
        'invalid_spec',
        `invalid sandbox uid range ${start}+${count}: use integers with start >= 1000 and start+count < 2^31`,
      );
    this.#cursor = start;
  }

  /** Marks a uid as taken (a sandbox found on disk at start-up). */
  reserve(uid: number): void {
    if (this.contains(uid)) this.#used.add(uid);
  }

  contains(uid: number): boolean {
    return uid >= this.range.start && uid < this.range.start + this.range.count;
  }

  /**
   * The next free uid, round-robin, so a just-released uid is not handed out again at once. Throws when the whole
   * range is in use.
   */
  allocate(): number {
    const { start, count } = this.range;
    for (let i = 0; i < count; i++) {
      const uid = start + ((this.#cursor - start + i) % count);
      if (this.#used.has(uid)) continue;
      this.#used.add(uid);
      this.#cursor = uid + 1;
      return uid;
    }
    throw new SandboxDriverError(
      'host_unavailable',
      `all ${count} sandbox uids (${start}…${start + count - 1}) are in use: destroy sandboxes or widen the uid range`,
    );
  }

  release(uid: number): void {
    this.#used.delete(uid);
  }

  get inUse(): number {
    return this.#used.size;
  }
}
