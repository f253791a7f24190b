import { CgroupError, type Cgroup, type CgroupManager, type LimitController } from './types.js';

/**
 * Stands in when no usable cgroup hierarchy was found, so that a driver can still be constructed and report the
 * problem through check(). Creating a group fails with the reason; nothing can have been created, so lookups of
 * existing groups find them empty.
 */
export class UnavailableCgroupManager implements CgroupManager {
  readonly version = 2 as const;
  readonly enforceable: ReadonlySet<LimitController> = new Set();
  readonly description: string;

  constructor(readonly reason: string) {
    this.description = `no cgroups (${reason})`;
  }

  create(): Promise<Cgroup> {
    return Promise.reject(new CgroupError(`cannot track sandbox processes: ${this.reason}`));
  }

  limit(): Promise<void> {
    return Promise.reject(new CgroupError(`cannot limit sandbox processes: ${this.reason}`));
  }

  groups(): Promise<string[]> {
    return Promise.resolve([]);
  }

  open(name: string): Cgroup {
    return {
      name,
      dirs: [],
      addProcess: () => Promise.reject(new CgroupError(this.reason)),
      pids: () => Promise.resolve([]),
      stats: () => Promise.resolve({ memoryBytes: null, cpuUsageUsec: null, pids: null }),
      oomKills: () => Promise.resolve(0),
      killAll: () => Promise.resolve(),
      remove: () => Promise.resolve(),
      exists: () => Promise.resolve(false),
    };
  }

  check(): Promise<string[]> {
    return Promise.resolve([`cgroups unusable: ${this.reason}`]);
  }
}
