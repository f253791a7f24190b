import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxResources } from '../driver.js';

/** The file in each sandbox directory that lets `list()` find the sandbox again after a berthd restart. */
export const RECORD_FILE = 'sandbox.json';

/**
 * What the bwrap driver persists per sandbox: what was asked (command, resources, paths) and the identity it was
 * given (uid, cgroup, pid). Never the environment: it may hold the session token.
 */
export interface SandboxRecord {
  version: 1;
  id: string;
  driver: 'bwrap';
  hostUid: number;
  hostGid: number;
  /** Host pid of the launcher, which becomes bwrap (or the staging bwrap). */
  pid: number | null;
  /** cgroup name under the manager's parent. */
  cgroup: string;
  workspaceDir: string;
  homeDir: string;
  logFile: string;
  runDir: string;
  installDir: string;
  /** True when the sources were staged by a root bwrap (see argv.ts `stageArgs`). */
  staged: boolean;
  command: string[];
  resources: SandboxResources;
  /** A member of a shared sandbox: its group and its index there (uid inside: 1000 + index). */
  shared?: { group: string; index: number };
  createdAt: string;
}

/**
 * Writes a driver's record atomically (temp file + rename), so a crash never leaves a half-written sandbox.json.
 * Shared by the bwrap and gVisor drivers.
 */
export async function writeRecord(dir: string, record: SandboxRecord | object): Promise<void> {
  const tmp = join(dir, `.${RECORD_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(dir, RECORD_FILE));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The record in `dir`, or undefined when there is none or it is not one of ours. */
export async function readRecord(dir: string): Promise<SandboxRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, RECORD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined;
    throw err;
  }
  let r: Partial<SandboxRecord>;
  try {
    r = JSON.parse(text) as Partial<SandboxRecord>;
  } catch {
    return undefined; // not ours (or damaged): destroy() still cleans up by id
  }
  const ok =
    r.version === 1 &&
    r.driver === 'bwrap' &&
    typeof r.id === 'string' &&
    Number.isInteger(r.hostUid) &&
    typeof r.workspaceDir === 'string' &&
    typeof r.cgroup === 'string';
  return ok ? (r as SandboxRecord) : undefined;
}
