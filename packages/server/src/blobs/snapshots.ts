import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { x as extract } from 'tar';
import { extractAsSandbox } from './gnu-tar.js';
import { SafeRoot } from '../workspace/safe-path.js';
import { tarStream } from '../workspace/tar.js';

/** The two trees a snapshot keeps: the workspace, and the home with the CLI's transcript (`~/.claude`). */
const PARTS = ['workspace', 'home'] as const;
type Part = (typeof PARTS)[number];

/** Where a sandbox's trees are on the host, and whom their files belong to. */
export interface SnapshotTarget {
  workspaceDir: string;
  homeDir: string;
  hostUid: number;
}

/** A snapshot that is a whole workspace disk image (see {@link SnapshotStore.imageTarget}). */
export interface DiskImageSnapshot {
  path: string;
  sizeMib: number;
}

/** The name of a snapshot's disk image in the session's directory. */
const DISK_IMAGE = 'disk.img';

/** What saving a snapshot took. */
export interface SnapshotStats {
  bytes: number;
  ms: number;
}

/**
 * Hibernated sessions' files in the blob store (a local directory), in one of two forms:
 * - `<dir>/<session id>/disk.img`: the sandbox's whole workspace disk (workspace and home on a loop-mounted ext4
 *   image, ADR 0004), handed over by the driver at destroy (a rename: the blob store must be on the filesystem of
 *   the sandboxes directory) and handed to the next sandbox at resume. Used whenever the sandbox has a disk, its
 *   driver can hand it over and the filesystems match ({@link imageTarget}); nothing is copied either way.
 * - `<dir>/<session id>/{workspace,home}.tar` otherwise (no disk quota, another filesystem, another driver).
 *
 * Saving walks the sandbox's trees with the files route's symlink-safe tar walk (a hostile sandbox cannot make it
 * read outside them). Restoring extracts into a fresh sandbox's empty trees with GNU tar run as the new sandbox's
 * uid (see gnu-tar.ts: it refuses absolute paths, `..` and writing through symlinks, and as that uid it could not
 * write anywhere the sandbox could not), or with node-tar (same refusals, files chowned to the uid) where GNU tar
 * is missing.
 */
export class SnapshotStore {
  constructor(private readonly dir: string) {}

  /** Saves both trees; replaces an earlier snapshot of the session only once both are written. */
  async save(sessionId: string, from: SnapshotTarget): Promise<SnapshotStats> {
    const t0 = performance.now();
    const dest = this.pathOf(sessionId);
    await mkdir(dest, { recursive: true, mode: 0o700 });
    // Both trees at once: the home (transcript) is small and would otherwise wait behind the workspace.
    const sizes = await Promise.all(
      PARTS.map(async (part) => {
        const root = await SafeRoot.open(part === 'workspace' ? from.workspaceDir : from.homeDir);
        const file = join(dest, `${part}.tar.part`);
        const out = createWriteStream(file, { mode: 0o600, highWaterMark: 1024 * 1024 });
        await pipeline(tarStream(root, [], part), out);
        return (await stat(file)).size;
      }),
    );
    for (const part of PARTS) await rename(join(dest, `${part}.tar.part`), join(dest, `${part}.tar`));
    await rm(join(dest, DISK_IMAGE), { force: true }); // older than these tars
    return { bytes: sizes.reduce((a, b) => a + b, 0), ms: performance.now() - t0 };
  }

  /** Restores a session's snapshot into a new sandbox's (empty) workspace and home. */
  async restore(sessionId: string, into: SnapshotTarget): Promise<void> {
    const src = this.pathOf(sessionId);
    const gid = (await stat(into.homeDir)).gid;
    await Promise.all(
      PARTS.map(async (part: Part) => {
        const file = join(src, `${part}.tar`);
        const cwd = part === 'workspace' ? into.workspaceDir : into.homeDir;
        if (await extractAsSandbox(file, cwd, into.hostUid, gid)) return;
        await extract({
          file,
          cwd,
          strip: 1,
          preserveOwner: false,
          uid: into.hostUid,
          gid,
          // Modes as archived (permission bits only), not narrowed by berthd's umask.
          processUmask: 0,
        });
      }),
    );
  }

  /**
   * Where the driver should move the sandbox's disk image to (`DestroyOptions.detachDiskTo`) to hibernate it, or
   * undefined when the tars must be used: the sandbox has no disk image, or it is on another filesystem than the
   * blob store (a rename cannot cross filesystems).
   */
  async imageTarget(sessionId: string, from: { diskImage?: string | undefined }): Promise<string | undefined> {
    if (from.diskImage === undefined) return undefined;
    const dest = this.pathOf(sessionId);
    await mkdir(dest, { recursive: true, mode: 0o700 });
    const [a, b] = await Promise.all([stat(dest), stat(dirname(from.diskImage)).catch(() => undefined)]);
    return b !== undefined && a.dev === b.dev ? join(dest, DISK_IMAGE) : undefined;
  }

  /** The disk image moved to {@link imageTarget} is the session's snapshot now: older tars go. */
  async imageSaved(sessionId: string): Promise<SnapshotStats & { path: string }> {
    const dest = this.pathOf(sessionId);
    const t0 = performance.now();
    const { blocks } = await stat(join(dest, DISK_IMAGE));
    await Promise.all(PARTS.map((part) => rm(join(dest, `${part}.tar`), { force: true })));
    // The image is sparse: what it takes on disk, not its size (the quota).
    return { bytes: blocks * 512, ms: performance.now() - t0, path: join(dest, DISK_IMAGE) };
  }

  /** The session's snapshot when it is a disk image (resume hands it to the new sandbox), else undefined. */
  async diskImage(sessionId: string): Promise<DiskImageSnapshot | undefined> {
    const path = join(this.pathOf(sessionId), DISK_IMAGE);
    const st = await stat(path).catch(() => undefined);
    return st ? { path, sizeMib: Math.floor(st.size / 1048576) } : undefined;
  }

  /**
   * True when the session's tars were saved at or after `since` (ms since the epoch): taken from a sandbox created
   * then, which hibernation saves once, before it destroys anything (start-up recovery, hibernate-recovery.ts).
   */
  async savedSince(sessionId: string, since: number): Promise<boolean> {
    const st = await stat(join(this.pathOf(sessionId), 'home.tar')).catch(() => undefined);
    return st !== undefined && st.mtimeMs >= since;
  }

  /** True when the session has a complete snapshot (a disk image, or both tars). */
  async has(sessionId: string): Promise<boolean> {
    const dir = this.pathOf(sessionId);
    const exists = (name: string) =>
      stat(join(dir, name)).then(
        () => true,
        () => false,
      );
    return (await exists(DISK_IMAGE)) || (await exists('home.tar'));
  }

  /** Deletes a session's snapshot (the session was deleted). Idempotent. */
  async drop(sessionId: string): Promise<void> {
    await rm(this.pathOf(sessionId), { recursive: true, force: true });
  }

  private pathOf(sessionId: string): string {
    // Session ids are checked by the API (`sesn_` + base62); anything else never reaches a path.
    if (!/^sesn_[A-Za-z0-9]+$/.test(sessionId)) throw new Error(`not a session id: ${sessionId}`);
    return join(this.dir, sessionId);
  }
}
