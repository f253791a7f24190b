import { constants } from 'node:fs';
import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CgroupError } from './types.js';

export { sleep };

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** True for "this file or group does not exist (any more)". */
export function isGone(err: unknown): boolean {
  const code = errno(err);
  return code === 'ENOENT' || code === 'ENODEV';
}

/** The file's text, or undefined when it (or its group) does not exist. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isGone(err)) return undefined;
    throw new CgroupError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes one value to a cgroup control file; the kernel's errno is kept in the message. Opened O_WRONLY only:
 * O_CREAT/O_TRUNC mean nothing on cgroupfs, and without O_CREAT a missing file reports ENOENT.
 */
export async function writeControl(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value, { flag: constants.O_WRONLY });
  } catch (err) {
    throw new CgroupError(`cannot write '${value}' to ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A numeric control file (e.g. memory.current), or null when absent or not a number. */
export async function readNumber(path: string): Promise<number | null> {
  const text = await readText(path);
  if (text === undefined) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/** The value of `key` in a flat-keyed file such as memory.events or cpu.stat ("key value" lines). */
export function keyedValue(text: string | undefined, key: string): number | null {
  if (text === undefined) return null;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) {
      const n = Number(v);
      return Number.isFinite(n) ? n : null;
    }
  }
  return null;
}

/** Pids listed in a cgroup.procs file; empty when the group does not exist. */
export async function readPids(procsFile: string): Promise<number[]> {
  const text = await readText(procsFile);
  if (text === undefined) return [];
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * SIGKILLs one pid taken from a cgroup listing. Callers only pass pids read from a frozen group (or right after
 * re-checking membership), so the pid cannot have been recycled for an unrelated process.
 */
export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if (errno(err) !== 'ESRCH') throw err;
  }
}

/** rmdir that treats "already gone" as success and explains "still busy". */
export async function removeDir(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    if (isGone(err)) return;
    if (errno(err) === 'EBUSY' || errno(err) === 'ENOTEMPTY')
      throw new CgroupError(`cannot remove ${dir}: it still has processes or child groups; kill them first`, {
        cause: err,
      });
    throw new CgroupError(`cannot remove ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Names of the subdirectories (child groups) of `dir`; empty when it does not exist. */
export async function childDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (isGone(err)) return [];
    throw new CgroupError(`cannot list ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
