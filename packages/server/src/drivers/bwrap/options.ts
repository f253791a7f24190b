import type { DriverLogger } from '../logger.js';
import type { CgroupManager } from '../cgroups/index.js';
import type { UidRange } from './uids.js';

/** Everything the bwrap driver depends on, injected by the composition root. */
export interface BwrapDriverOptions {
  /** Host directory holding one directory per sandbox (workspace, home, runner.log, sandbox.json). */
  sandboxesDir: string;
  logger: DriverLogger;
  /** Where sandbox cgroups live. Default: detected on this host (`createCgroupManagerSync()`, parent `berth`). */
  cgroups?: CgroupManager;
  /** Host uids for sandboxes, one per sandbox; must be dedicated to this sandboxesDir. */
  uidRange?: UidRange;
  /** bubblewrap binary: absolute path or a name looked up in the standard bin dirs. Default `bwrap`. */
  bwrapPath?: string;
  /** setpriv (util-linux), needed only when sources must be staged. Default `setpriv`. */
  setprivPath?: string;
  /** The node binary sandboxes run; its prefix is bound read-only when it is outside /usr. Default process.execPath. */
  nodePath?: string;
  /** Forbid user namespaces inside the sandbox (bwrap --disable-userns), shrinking the kernel surface. Default true. */
  disableNestedUserns?: boolean;
  /** How long destroy() keeps SIGKILLing before it gives up. Default 10 s. */
  killTimeoutMs?: number;
  /**
   * Launchers kept started and already placed in a cgroup, so that create() does not wait for the kernel's RCU
   * grace period that placing a process costs (see pool.ts). Started by the first create() or `warmUp()`, never by
   * the constructor. Default 1; 0 disables.
   */
  launcherPool?: number;
  /**
   * Keep one workspace disk image formatted ahead, of the size last asked for, so creates with a disk skip mkfs.
   * Default true (when workspace disks are available).
   */
  diskImagePool?: boolean;
  /**
   * Whether `resources.diskMib` is honoured with a loop-mounted ext4 image per workspace (see ../disk/). Default:
   * when this host can (root, loop devices, e2fsprogs); false declares `diskLimit: false`, so quotas are refused.
   */
  workspaceDisks?: boolean;
}
