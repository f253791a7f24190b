import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
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

/** What saving a snapshot took. */
export interface SnapshotStats {
  bytes: number;
  ms: number;
}

/**
 * Hibernated sessions' files in the blob store (a local directory): `<dir>/<session id>/{workspace,home}.tar`.
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

  /** True when the session has a complete snapshot. */
  async has(sessionId: string): Promise<boolean> {
    return stat(join(this.pathOf(sessionId), 'home.tar')).then(
      () => true,
      () => false,
    );
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
