import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { x as extract } from 'tar';
import { openRegular } from '../workspace/ops.js';
import { SafeRoot, splitRelative } from '../workspace/safe-path.js';
import { tarStream } from '../workspace/tar.js';

/** What keeping a session's artifacts did. */
export interface KeptArtifacts {
  kept: string[];
  missing: string[];
}

/**
 * Artifacts of ephemeral sessions: the workspace paths a session's `berth.lifecycle.keep` names, copied out of its
 * sandbox before it is destroyed, to `<dir>/<session id>/` (root's, never visible to a sandbox). The files route
 * serves them read-only afterwards. Copies walk the workspace with the files route's symlink-safe reads: symlinks
 * are kept as links (never followed), FIFOs and devices are skipped.
 */
export class ArtifactStore {
  constructor(private readonly dir: string) {}

  /** Copies each kept path (a file or a directory; `.` is the whole workspace) out of `workspaceDir`. */
  async save(sessionId: string, workspaceDir: string, keep: readonly string[]): Promise<KeptArtifacts> {
    const root = await SafeRoot.open(workspaceDir);
    const dest = this.pathOf(sessionId);
    await mkdir(dest, { recursive: true, mode: 0o700 });
    const out: KeptArtifacts = { kept: [], missing: [] };
    for (const path of keep) {
      const parts = path === '.' ? [] : splitRelative(path);
      const kind = await kindOf(root, parts);
      if (kind === 'missing') {
        out.missing.push(path);
        continue;
      }
      if (kind === 'dir') {
        await pipeline(
          tarStream(root, parts, ['a', ...parts].join('/')),
          extract({ cwd: dest, strip: 1, preserveOwner: false, processUmask: 0o022 }),
        );
      } else {
        const { file } = await openRegular(root, parts);
        try {
          const target = join(dest, ...parts);
          await mkdir(dirname(target), { recursive: true, mode: 0o755 });
          await pipeline(file.createReadStream({ autoClose: false }), createWriteStream(target, { mode: 0o644 }));
        } finally {
          await file.close();
        }
      }
      out.kept.push(path);
    }
    return out;
  }

  /** The kept artifacts' directory, or undefined when the session kept none. */
  async rootOf(sessionId: string): Promise<string | undefined> {
    const path = this.pathOf(sessionId);
    return stat(path).then(
      (st) => (st.isDirectory() ? path : undefined),
      () => undefined,
    );
  }

  /** Deletes a session's artifacts (the session was deleted). Idempotent. */
  async drop(sessionId: string): Promise<void> {
    await rm(this.pathOf(sessionId), { recursive: true, force: true });
  }

  private pathOf(sessionId: string): string {
    if (!/^sesn_[A-Za-z0-9]+$/.test(sessionId)) throw new Error(`not a session id: ${sessionId}`);
    return join(this.dir, sessionId);
  }
}

async function kindOf(root: SafeRoot, parts: string[]): Promise<'dir' | 'file' | 'missing'> {
  try {
    const h = await root.openDir(parts);
    await h.close();
    return 'dir';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return 'file';
    if (code === 'ENOENT') return 'missing';
    // SafeRoot reports a file where a directory was asked in its own terms; try it as a file.
    try {
      const { file } = await openRegular(root, parts);
      await file.close();
      return 'file';
    } catch {
      return 'missing';
    }
  }
}
