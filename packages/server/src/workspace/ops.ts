import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, opendir, readlink, rename, rmdir, unlink, open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { at, SafeRoot, UnsafePathError } from './safe-path.js';

/** One entry of a workspace listing. */
export interface WorkspaceEntry {
  /** Relative to the workspace root. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size_bytes: number;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  modified_at: string;
  /** Where a symlink points (never followed). */
  link_target?: string;
}

export function typeOf(st: Stats): WorkspaceEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** Thrown when a write exceeds its byte limit; the API answers 413. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
}

/**
 * Lists the directory `parts`: its entries, or with `recursive` everything below it (depth-first, directories
 * before their contents), up to `max` entries (`truncated` then says so). Symlinks are listed, never followed.
 */
export async function listDir(
  root: SafeRoot,
  parts: string[],
  opts: { recursive: boolean; max: number },
): Promise<{ entries: WorkspaceEntry[]; truncated: boolean }> {
  const entries: WorkspaceEntry[] = [];
  let truncated = false;
  const walk = async (dir: FileHandle, prefix: string, depth: number): Promise<void> => {
    const names: string[] = [];
    for await (const d of await opendir(at(dir))) names.push(d.name);
    names.sort();
    for (const name of names) {
      if (entries.length >= opts.max) {
        truncated = true;
        return;
      }
      const st = await lstat(at(dir, name)).catch(() => undefined);
      if (!st) continue; // removed meanwhile
      const path = prefix ? `${prefix}/${name}` : name;
      const e: WorkspaceEntry = {
        path,
        type: typeOf(st),
        size_bytes: st.size,
        mode: st.mode & 0o7777,
        modified_at: st.mtime.toISOString(),
      };
      if (e.type === 'symlink') e.link_target = await readlink(at(dir, name)).catch(() => '');
      entries.push(e);
      if (opts.recursive && e.type === 'directory' && depth < MAX_DEPTH) {
        const child = await open(at(dir, name), DIR_FLAGS).catch(() => undefined);
        if (!child) continue; // swapped for something else meanwhile: not followed
        try {
          await walk(child, path, depth + 1);
        } finally {
          await child.close();
        }
      }
    }
  };
  const dir = await root.openDir(parts);
  try {
    await walk(dir, parts.join('/'), 0);
  } finally {
    await dir.close();
  }
  return { entries, truncated };
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Deeper trees are listed, archived and removed only down to here (each level holds one descriptor). */
export const MAX_DEPTH = 64;

/** Opens the regular file `parts` for reading; refuses anything else (symlinks, FIFOs, directories). */
export async function openRegular(root: SafeRoot, parts: string[]): Promise<{ file: FileHandle; size: number }> {
  const { parent, file } = await root.openFile(parts, constants.O_RDONLY);
  await parent.close();
  const st = await file.stat();
  if (!st.isFile()) {
    await file.close();
    throw new UnsafePathError(
      st.isDirectory() ? 'is_directory' : 'not_file',
      `'${parts.join('/')}' is ${st.isDirectory() ? 'a directory: archive it with /tar' : 'not a regular file'}`,
    );
  }
  return { file, size: st.size };
}

/**
 * Writes `body` to `parts` (missing parent directories are made), owned by `owner` and mode 0644: into a new
 * temporary file next to it, renamed over the target once complete, so a reader never sees half a file and a
 * symlink at the target is replaced, never followed. At most `limit` bytes; more fails with TooLargeError and
 * leaves nothing behind.
 */
export async function writeFileAt(
  root: SafeRoot,
  parts: string[],
  body: Readable,
  owner: { uid: number; gid: number },
  limit: number,
): Promise<number> {
  if (parts.length === 0) throw new UnsafePathError('is_directory', 'give a file path, not the workspace root');
  const tmpParts = [...parts.slice(0, -1), `.berth-upload-${randomBytes(6).toString('hex')}`];
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
  const { parent, file } = await root.openFile(tmpParts, flags, 0o644, owner);
  const tmpName = tmpParts[tmpParts.length - 1]!;
  let size = 0;
  try {
    await file.chown(owner.uid, owner.gid);
    await file.chmod(0o644);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new TooLargeError(limit);
      await file.write(chunk);
    }
    await file.close();
    await rename(at(parent, tmpName), at(parent, parts[parts.length - 1])).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EISDIR' || err.code === 'ENOTEMPTY' || err.code === 'EEXIST')
        throw new UnsafePathError('is_directory', `'${parts.join('/')}' is a directory; choose a file path`);
      throw err;
    });
    return size;
  } catch (err) {
    await file.close().catch(() => undefined);
    await unlink(at(parent, tmpName)).catch(() => undefined);
    throw err;
  } finally {
    await parent.close();
  }
}

/**
 * Removes `parts`: a file or symlink (the link itself), an empty directory, or with `recursive` a directory tree.
 * The tree is removed through directory handles opened without following symlinks, so a directory swapped for a
 * symlink mid-way stops the removal instead of redirecting it.
 */
export async function removeAt(root: SafeRoot, parts: string[], recursive: boolean): Promise<void> {
  if (parts.length === 0) throw new UnsafePathError('invalid', 'the workspace root itself cannot be removed');
  const parent = await root.openDir(parts.slice(0, -1));
  const name = parts[parts.length - 1]!;
  try {
    const st = await lstat(at(parent, name)).catch((err: unknown) => {
      throw root.explain(err, parts);
    });
    if (!st.isDirectory()) return await unlink(at(parent, name));
    if (recursive) await emptyDir(parent, name, 0);
    await rmdir(at(parent, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTEMPTY')
        throw new UnsafePathError('is_directory', `'${parts.join('/')}' is a non-empty directory; pass recursive=true`);
      throw err;
    });
  } finally {
    await parent.close();
  }
}

async function emptyDir(parent: FileHandle, name: string, depth: number): Promise<void> {
  if (depth >= MAX_DEPTH) throw new UnsafePathError('invalid', `the tree is deeper than ${MAX_DEPTH} levels`);
  const dir = await open(at(parent, name), DIR_FLAGS);
  try {
    // Names first: removing entries while a directory stream is open may skip some.
    const names: string[] = [];
    for await (const d of await opendir(at(dir))) names.push(d.name);
    for (const n of names) {
      const st = await lstat(at(dir, n)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        await emptyDir(dir, n, depth + 1);
        await rmdir(at(dir, n));
      } else await unlink(at(dir, n));
    }
  } finally {
    await dir.close();
  }
}
