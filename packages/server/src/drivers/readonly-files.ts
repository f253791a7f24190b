import { constants } from 'node:fs';
import { chmod, chown, copyFile, mkdir } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { SANDBOX_PATHS } from '@berth/protocol';
import type { ReadOnlyFile } from './driver.js';
import { SandboxDriverError } from './errors.js';

/**
 * Sandbox paths a read-only file may not be mounted at or below: the system view, the kernel filesystems, berthd's
 * sockets, the installation, and the directories the sandbox writes (a bind inside a writable bind mount would
 * leave its mount point behind in the workspace; gVisor cannot create it there). Shared by the API's check of
 * `mount_path` and the drivers' check of the spec.
 */
export const RESERVED_SANDBOX_PATHS: readonly string[] = [
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/usr',
  '/etc',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/boot',
  '/root',
  '/var',
  '/tmp',
  SANDBOX_PATHS.install,
  SANDBOX_PATHS.workspace,
  SANDBOX_PATHS.home,
];

/** Why `dest` cannot take a read-only file, or undefined when it can. Pure. */
export function mountPathProblem(dest: string): string | undefined {
  if (typeof dest !== 'string' || dest.includes('\0')) return 'must be a string without NUL bytes';
  if (!isAbsolute(dest)) return 'must be an absolute path, e.g. /mnt/session/uploads/data.csv';
  if (Buffer.byteLength(dest) > 1024) return 'must be at most 1024 bytes';
  if (normalize(dest) !== dest || dest.endsWith('/') || dest.split('/').some((p) => p === '..' || p === '.'))
    return "must be normalised: no '..', '.', doubled or trailing '/'";
  if (dest.split('/').some((p) => Buffer.byteLength(p) > 255)) return 'has a component longer than 255 bytes';
  for (const r of RESERVED_SANDBOX_PATHS)
    if (dest === r || dest.startsWith(`${r}/`))
      return `is inside ${r}, which the sandbox reserves; use a path under /mnt, e.g. /mnt/session/uploads/<name>`;
  return undefined;
}

/** Checks a spec's `readOnlyFiles`: absolute sources, valid and distinct destinations, none inside another. */
export function validateReadOnlyFiles(files: ReadOnlyFile[] | undefined): void {
  if (files === undefined) return;
  const invalid = (m: string) => new SandboxDriverError('invalid_spec', m);
  if (!Array.isArray(files) || files.length > 100) throw invalid('readOnlyFiles must be an array of at most 100');
  const dests = new Set<string>();
  files.forEach((f, i) => {
    if (typeof f.source !== 'string' || !isAbsolute(f.source) || f.source.includes('\0'))
      throw invalid(`readOnlyFiles[${i}].source must be an absolute host path`);
    const problem = mountPathProblem(f.dest);
    if (problem !== undefined) throw invalid(`readOnlyFiles[${i}].dest ${problem}`);
    dests.add(f.dest);
  });
  if (dests.size !== files.length) throw invalid('readOnlyFiles destinations must be distinct');
  for (const d of dests)
    for (const e of dests)
      if (e.startsWith(`${d}/`)) throw invalid(`readOnlyFiles destination ${e} is inside ${d}, which is a file`);
}

/**
 * Copies each read-only file into `<sandboxDir>/ro/<n>`, owned by root with the sandbox's group and mode 0440, and
 * returns the binds to make. The copy (not the caller's file) is what the sandbox sees: it can read but not change
 * it (the bind is read-only, and the file is not its own, so not even a remount could make it writable), and the
 * original can be deleted meanwhile. Other sandbox uids have neither the group nor a way into the directory.
 */
export async function stageReadOnlyFiles(
  sandboxDir: string,
  files: ReadOnlyFile[] | undefined,
  gid: number,
): Promise<{ source: string; dest: string }[]> {
  if (!files?.length) return [];
  const dir = join(sandboxDir, 'ro');
  await mkdir(dir, { mode: 0o711 });
  await chmod(dir, 0o711);
  return Promise.all(
    files.map(async (f, i) => {
      const copy = join(dir, String(i));
      await copyFile(f.source, copy, constants.COPYFILE_EXCL).catch((err: NodeJS.ErrnoException) => {
        throw new SandboxDriverError(
          'invalid_spec',
          `read-only file for ${f.dest} could not be copied from ${f.source}: ${err.code ?? err.message}`,
        );
      });
      await chown(copy, 0, gid);
      await chmod(copy, 0o440);
      return { source: copy, dest: f.dest };
    }),
  );
}
