import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, type FileHandle } from 'node:fs/promises';

/**
 * Host-side access to a directory the sandbox controls (its workspace). The sandbox is hostile and can plant or swap
 * symlinks at any moment, so nothing here resolves a path the sandbox could influence with the kernel's normal
 * lookup. Each component is opened relative to the already-opened parent directory, through the parent's
 * `/proc/self/fd/<n>/<name>` magic link (Node 20 has no openat): the kernel continues the lookup from exactly that
 * directory, whatever has since been renamed around it, and `O_NOFOLLOW` refuses a symlink as the component. So
 * every step is pinned to an inode that was checked; a path that goes through a symlink fails instead of leaving
 * the root. `O_NONBLOCK` keeps a planted FIFO from blocking an open. After opening, the kernel's own name for the
 * handle (`/proc/self/fd/<n>`) is checked to lie below the root as a second, independent guard.
 */

/** Why a path was refused; the API maps `kind` onto its errors. */
export class UnsafePathError extends Error {
  constructor(
    readonly kind: 'invalid' | 'symlink' | 'not_found' | 'not_directory' | 'not_file' | 'escape' | 'is_directory',
    message: string,
  ) {
    super(message);
  }
}

const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

/**
 * Splits a request path into checked components: relative (no leading `/`), no `..`, no `.` or empty components
 * (`a//b`, trailing `/` allowed once), no NUL, at most 4096 bytes with names of at most 255 bytes. `''` and `.` are
 * the root itself (no components).
 */
export function splitRelative(path: string): string[] {
  if (path.includes('\0')) throw new UnsafePathError('invalid', 'the path must not contain NUL bytes');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES)
    throw new UnsafePathError('invalid', `the path is longer than ${MAX_PATH_BYTES} bytes`);
  if (path.startsWith('/'))
    throw new UnsafePathError(
      'invalid',
      `'${path}' is absolute: give a path relative to the workspace root, e.g. 'src/main.py' for /workspace/src/main.py`,
    );
  if (path === '' || path === '.' || path === './') return [];
  const parts = (path.endsWith('/') ? path.slice(0, -1) : path).split('/');
  for (const p of parts) {
    if (p === '..')
      throw new UnsafePathError('invalid', `'${path}' contains '..': paths must stay inside the workspace`);
    if (p === '' || p === '.')
      throw new UnsafePathError('invalid', `'${path}' is not normalised: remove empty and '.' components`);
    if (Buffer.byteLength(p) > MAX_NAME_BYTES)
      throw new UnsafePathError('invalid', `a path component is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return parts;
}

/** The path of `name` inside the directory open as `dir`, resolved by the kernel from that very directory. */
export function at(dir: FileHandle, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dir.fd}` : `/proc/self/fd/${dir.fd}/${name}`;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A workspace root. Its own path is berthd's (below root-owned directories the sandbox cannot rename), so it is
 * resolved once; everything below it is the sandbox's and is walked with the rules above.
 */
export class SafeRoot {
  private constructor(readonly real: string) {}

  /** Checks that `root` is an existing directory and remembers its real path. */
  static async open(root: string): Promise<SafeRoot> {
    const real = await realpath(root);
    await (await open(real, DIR_FLAGS)).close();
    return new SafeRoot(real);
  }

  /**
   * Opens the directory `parts` below the root, one component at a time. With `create`, missing directories are
   * made (0755) and given to `create.uid/gid`. The caller closes the handle.
   */
  async openDir(parts: readonly string[], create?: { uid: number; gid: number }): Promise<FileHandle> {
    let cur = await open(this.real, DIR_FLAGS);
    try {
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i]!;
        let next: FileHandle;
        try {
          next = await open(at(cur, name), DIR_FLAGS);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' && create) {
            await mkdir(at(cur, name), { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
              if (e.code !== 'EEXIST') throw e;
            });
            next = await open(at(cur, name), DIR_FLAGS).catch((e: unknown) => {
              throw this.explain(e, parts.slice(0, i + 1));
            });
            await next.chown(create.uid, create.gid);
          } else throw await this.explainAt(err, cur, name, parts.slice(0, i + 1));
        }
        await cur.close();
        cur = next;
      }
      await this.verify(cur, parts);
      return cur;
    } catch (err) {
      await cur.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Opens the file `parts` (at least one component) with `flags` (O_NOFOLLOW and O_NONBLOCK are added). The parent
   * directory handle is returned too (for renames next to the file); the caller closes both.
   */
  async openFile(
    parts: readonly string[],
    flags: number,
    mode = 0o644,
    create?: { uid: number; gid: number },
  ): Promise<{ parent: FileHandle; file: FileHandle }> {
    if (parts.length === 0) throw new UnsafePathError('is_directory', 'the workspace root is a directory, not a file');
    const parent = await this.openDir(parts.slice(0, -1), create);
    const name = parts[parts.length - 1]!;
    try {
      const file = await open(at(parent, name), flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode).catch(
        async (err: unknown) => {
          throw await this.explainAt(err, parent, name, parts);
        },
      );
      try {
        await this.verify(file, parts);
      } catch (err) {
        await file.close();
        throw err;
      }
      return { parent, file };
    } catch (err) {
      await parent.close();
      throw err;
    }
  }

  /** The second guard: the kernel's name for an opened handle must be the root or below it. */
  async verify(h: FileHandle, parts: readonly string[]): Promise<void> {
    const name = await readlink(at(h));
    if (name !== this.real && !name.startsWith(`${this.real}/`))
      throw new UnsafePathError('escape', `'${parts.join('/')}' resolves outside the workspace; refused`);
  }

  /** Turns an open() failure on `name` in `dir` into a clear UnsafePathError (or rethrows it). */
  async explainAt(err: unknown, dir: FileHandle, name: string, parts: readonly string[]): Promise<unknown> {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      const st = await lstat(at(dir, name)).catch(() => undefined);
      if (st?.isSymbolicLink())
        return new UnsafePathError(
          'symlink',
          `'${parts.join('/')}' is a symlink; Berth never follows symlinks in a workspace. Use the path it points to.`,
        );
    }
    return this.explain(err, parts);
  }

  explain(err: unknown, parts: readonly string[]): unknown {
    const code = (err as NodeJS.ErrnoException).code;
    const p = parts.join('/');
    if (code === 'ENOENT') return new UnsafePathError('not_found', `'${p}' does not exist in the workspace`);
    if (code === 'ENOTDIR') return new UnsafePathError('not_directory', `'${p}' is not a directory`);
    if (code === 'EISDIR') return new UnsafePathError('is_directory', `'${p}' is a directory`);
    if (code === 'ELOOP') return new UnsafePathError('symlink', `'${p}' is a symlink; Berth never follows it`);
    return err;
  }
}
