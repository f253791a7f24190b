import { SANDBOX_UID } from '@berth/protocol';
import type { FileHandle } from 'node:fs/promises';
import { CgroupError, CgroupLimitUnsupportedError } from '../cgroups/index.js';
import type { SandboxInfo, SandboxStatus } from '../driver.js';
import { SandboxDriverError } from '../errors.js';
import type { SandboxRecord } from './record.js';

/** The recorded fields every driver's record has (bwrap's SandboxRecord, gVisor's GvisorRecord). */
type RecordedSandbox = Pick<
  SandboxRecord,
  'id' | 'pid' | 'hostUid' | 'workspaceDir' | 'homeDir' | 'logFile' | 'cgroup' | 'createdAt'
> & { shared?: SandboxRecord['shared'] };

/** The observed view of a recorded sandbox. */
export function infoOf(r: RecordedSandbox, status: SandboxStatus, driver = 'bwrap'): SandboxInfo {
  return {
    id: r.id,
    driver,
    status,
    pid: r.pid,
    hostUid: r.hostUid,
    workspaceDir: r.workspaceDir,
    homeDir: r.homeDir,
    logFile: r.logFile,
    cgroup: r.cgroup,
    ...(r.shared && { shared: { group: r.shared.group, uid: SANDBOX_UID + r.shared.index } }),
    createdAt: r.createdAt,
  };
}

/** Driver errors pass through; cgroup refusals become `unsupported_resource`; anything else `host_unavailable`. */
export function asDriverError(err: unknown, context: string): SandboxDriverError {
  if (err instanceof SandboxDriverError) return err;
  if (err instanceof CgroupLimitUnsupportedError)
    return new SandboxDriverError('unsupported_resource', err.message, { cause: err });
  const msg = err instanceof CgroupError ? err.message : (err as Error).message;
  return new SandboxDriverError('host_unavailable', `${context}: ${msg}`, { cause: err });
}

/** Closes a file handle that may or may not have opened, once. */
export async function closeQuietly(handle: Promise<FileHandle> | undefined): Promise<void> {
  const fh = await handle?.catch(() => undefined);
  await fh?.close().catch(() => undefined);
}
