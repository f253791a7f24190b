import { detectCgroupLayoutSync, type CgroupLayout } from './detect.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager } from './v2.js';
import { CgroupError, type CgroupManager } from './types.js';

export * from './types.js';
export {
  parseCgroupMounts,
  layoutFromMounts,
  detectCgroupLayout,
  detectCgroupLayoutSync,
  V1_CONTROLLERS,
} from './detect.js';
export type { CgroupMount, CgroupLayout, V1Controller } from './detect.js';
export { CgroupV1Manager, CgroupV1 } from './v1.js';
export { CgroupV2Manager, CgroupV2 } from './v2.js';
export { UnavailableCgroupManager } from './unavailable.js';

/** How to find the cgroup hierarchy; everything defaults to detection. */
export interface CgroupManagerOptions {
  /** Parent group that every sandbox group is created under, relative to the hierarchy root. Default `berth`. */
  parent?: string;
  /**
   * Use cgroup v2 rooted here instead of detecting (e.g. a delegated subtree, or `/sys/fs/cgroup/unified` on a
   * hybrid host for tests).
   */
  v2Root?: string;
  /** Where the hierarchy is normally mounted. Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** A layout detected elsewhere (tests). */
  layout?: CgroupLayout;
}

/**
 * Detects cgroup v1 or v2 on this host (never assumes) and returns a manager for it. v2 when a cgroup2 filesystem
 * is mounted at /sys/fs/cgroup; v1 when the v1 controller hierarchies are mounted (a hybrid host's controller-less
 * /sys/fs/cgroup/unified is not used unless `v2Root` asks for it). Synchronous because it runs once at start-up
 * and lets drivers know their capabilities at construction.
 */
export function createCgroupManagerSync(opts: CgroupManagerOptions = {}): CgroupManager {
  const parent = opts.parent ?? 'berth';
  if (opts.v2Root !== undefined) return CgroupV2Manager.initSync({ root: opts.v2Root, parent });
  const layout = opts.layout ?? detectCgroupLayoutSync(opts.cgroupRoot);
  if (layout === undefined)
    throw new CgroupError(
      'no cgroup filesystem is mounted: mount cgroup2 at /sys/fs/cgroup (or the v1 memory, pids and cpu hierarchies)',
    );
  if (layout.version === 2) return CgroupV2Manager.initSync({ root: layout.root, parent });
  return new CgroupV1Manager({ hierarchies: layout.hierarchies, parent });
}

/** `createCgroupManagerSync` as a promise. */
export function createCgroupManager(opts: CgroupManagerOptions = {}): Promise<CgroupManager> {
  return Promise.resolve().then(() => createCgroupManagerSync(opts));
}
