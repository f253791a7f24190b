import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxInfo, SandboxResources, SandboxStatus } from '../driver.js';
import { RECORD_FILE } from '../bwrap/record.js';

export { RECORD_FILE };

/**
 * What the gVisor driver persists per sandbox (`<sandboxesDir>/<id>/sandbox.json`): what was asked and the
 * identity it was given. Never the environment: it may hold the session token.
 */
export interface GvisorRecord {
  version: 1;
  id: string;
  driver: 'gvisor';
  hostUid: number;
  /** Host pid of the launcher that became `runsc run --detach` (exits once the sandbox runs). */
  pid: number | null;
  /** cgroup name under the manager's parent. */
  cgroup: string;
  workspaceDir: string;
  homeDir: string;
  logFile: string;
  runDir: string;
  installDir: string;
  command: string[];
  resources: SandboxResources;
  createdAt: string;
}

/** Writes the record atomically (temp file + rename). */
export async function writeRecord(dir: string, record: GvisorRecord): Promise<void> {
  const tmp = join(dir, `.${RECORD_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(dir, RECORD_FILE));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The record in `dir`, or undefined when there is none or it is not a gVisor one. */
export async function readRecord(dir: string): Promise<GvisorRecord | undefined> {
  const text = await readFile(join(dir, RECORD_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  let r: Partial<GvisorRecord>;
  try {
    r = JSON.parse(text) as Partial<GvisorRecord>;
  } catch {
    return undefined;
  }
  const ok =
    r.version === 1 &&
    r.driver === 'gvisor' &&
    typeof r.id === 'string' &&
    Number.isInteger(r.hostUid) &&
    typeof r.workspaceDir === 'string' &&
    typeof r.cgroup === 'string';
  return ok ? (r as GvisorRecord) : undefined;
}

/** The observed view of a recorded sandbox. */
export function infoOf(r: GvisorRecord, status: SandboxStatus): SandboxInfo {
  return {
    id: r.id,
    driver: 'gvisor',
    status,
    pid: r.pid,
    hostUid: r.hostUid,
    workspaceDir: r.workspaceDir,
    homeDir: r.homeDir,
    logFile: r.logFile,
    cgroup: r.cgroup,
    createdAt: r.createdAt,
  };
}
