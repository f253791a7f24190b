import type { CgroupLimits } from '../cgroups/index.js';
import type { SandboxResources } from '../driver.js';

/**
 * Host tasks a gVisor sandbox needs before its guest runs anything: the Sentry's Go threads, the gofer and the
 * ptrace platform's stubs (about 50 measured idle on runsc 2022-12; below ~1024 the Sentry can fail to start).
 */
export const HOST_TASK_BASE = 1024;
/** Host tasks per guest process on the ptrace platform (about 10 measured), with headroom. */
export const HOST_TASKS_PER_GUEST = 16;

/**
 * How a sandbox's resources map onto the host for gVisor:
 * - `memoryMib` and `cpus` go to the sandbox's host cgroup unchanged, so they bound the whole sandbox (guest and
 *   gVisor's kernel). Going over the memory limit kills the whole sandbox, not one guest process.
 * - `pids` becomes the guest user's RLIMIT_NPROC, which gVisor's kernel enforces (a fork past it fails with
 *   EAGAIN, like pids.max under bwrap), and a host `pids.max` backstop of HOST_TASK_BASE + pids ×
 *   HOST_TASKS_PER_GUEST, because every guest process costs several host tasks on the ptrace platform.
 * Pure.
 */
export function hostLimits(r: SandboxResources, hostPids: boolean): { cgroup: CgroupLimits; nproc?: number } {
  const cgroup: CgroupLimits = {
    ...(r.memoryMib !== undefined && { memoryMib: r.memoryMib }),
    ...(r.cpus !== undefined && { cpus: r.cpus }),
    ...(r.pids !== undefined && hostPids && { pids: HOST_TASK_BASE + r.pids * HOST_TASKS_PER_GUEST }),
  };
  return r.pids === undefined ? { cgroup } : { cgroup, nproc: r.pids };
}
