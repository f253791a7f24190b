import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxInfo, SandboxResources, SandboxStatus } from '../driver.js';
import { RECORD_FILE, writeRecord } from '../bwrap/record.js';
import { infoOf as recordInfo } from '../bwrap/util.js';

export { RECORD_FILE, writeRecord };

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

/** The observed view of a recorded gVisor sandbox. */
export function infoOf(r: GvisorRecord, status: SandboxStatus): SandboxInfo {
  return recordInfo(r, status, 'gvisor');
}
