import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Controller } from './detect.js';
import { childDirs, isGone, keyedValue, readNumber, readPids, readText, removeDir, writeControl } from './fsio.js';
import { killLoop, waitFor, type KillTarget } from './kill.js';
import {
  CFS_PERIOD_US,
  CgroupError,
  CgroupLimitUnsupportedError,
  assertGroupPath,
  assertLimits,
  assertParentPath,
  probeGroupName,
  limitControllers,
  type Cgroup,
  type CgroupLimits,
  type CgroupManager,
  type CgroupUsage,
  type LimitController,
} from './types.js';

/** Where each v1 controller's hierarchy is mounted, and the parent group (e.g. `berth`) to create groups under. */
export interface CgroupV1Options {
  hierarchies: ReadonlyMap<V1Controller, string>;
  parent: string;
}

/**
 * cgroup v1: a group is the same-named directory in the memory, pids, cpu, cpuacct and freezer hierarchies (those
 * that are mounted; co-mounted ones such as `cpu,cpuacct` share one directory).
 */
export class CgroupV1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly enforceable: ReadonlySet<LimitController>;
  readonly description: string;
  readonly #parentDirs: Map<V1Controller, string>;
  #parentsReady: Promise<boolean> | undefined;

  constructor(opts: CgroupV1Options) {
    assertParentPath(opts.parent);
    this.#parentDirs = new Map([...opts.hierarchies].map(([c, mount]) => [c, join(mount, opts.parent)]));
    const enforceable = new Set<LimitController>();
    for (const c of ['memory', 'cpu', 'pids'] as const) if (opts.hierarchies.has(c)) enforceable.add(c);
    this.enforceable = enforceable;
    this.description = `cgroup v1 ${[...new Set(this.#parentDirs.values())].join(', ')}`;
  }

  /** Creates the parent in every hierarchy once; resolves whether memory.memsw (swap accounting) exists. */
  #ensureParents(): Promise<boolean> {
    this.#parentsReady ??= (async () => {
      await Promise.all([...new Set(this.#parentDirs.values())].map((d) => mkdir(d, { recursive: true })));
      const mem = this.#parentDirs.get('memory');
      return mem !== undefined && (await exists(join(mem, 'memory.memsw.limit_in_bytes')));
    })();
    this.#parentsReady.catch(() => (this.#parentsReady = undefined));
    return this.#parentsReady;
  }

  #refuseUnenforceable(name: string, limits: CgroupLimits): void {
    assertGroupPath(name);
    assertLimits(limits);
    for (const c of limitControllers(limits))
      if (!this.enforceable.has(c))
        throw new CgroupLimitUnsupportedError(
          c,
          `a ${c} limit was requested but the v1 ${c} controller is not mounted`,
        );
  }

  async limit(name: string, limits: CgroupLimits): Promise<void> {
    this.#refuseUnenforceable(name, limits);
    await this.open(name).applyLimits(limits, await this.#ensureParents());
  }

  async groups(): Promise<string[]> {
    const lists = await Promise.all([...new Set(this.#parentDirs.values())].map(childDirs));
    return [...new Set(lists.flat())].sort();
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    this.#refuseUnenforceable(name, limits);
    const hasMemsw = await this.#ensureParents();
    const group = this.open(name);
    const made = await Promise.allSettled(group.dirs.map((d) => mkdir(d)));
    const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(group.dirs.filter((_, i) => made[i]?.status === 'fulfilled').map(removeDir));
      const why =
        (failed.reason as NodeJS.ErrnoException).code === 'EEXIST' ? 'it already exists' : String(failed.reason);
      throw new CgroupError(`cannot create cgroup '${name}' under ${this.description}: ${why}`, {
        cause: failed.reason,
      });
    }
    try {
      await group.applyLimits(limits, hasMemsw);
    } catch (err) {
      await group.remove().catch(() => undefined);
      throw err;
    }
    return group;
  }

  open(name: string): CgroupV1 {
    assertGroupPath(name);
    return new CgroupV1(name, new Map([...this.#parentDirs].map(([c, d]) => [c, join(d, name)])));
  }

  async check(): Promise<string[]> {
    const problems: string[] = [];
    if (!this.#parentDirs.has('pids') && !this.#parentDirs.has('memory'))
      problems.push('neither the v1 pids nor memory hierarchy is mounted: mount them under /sys/fs/cgroup');
    const probe = this.open(probeGroupName());
    try {
      await this.#ensureParents();
      await Promise.all(probe.dirs.map((d) => mkdir(d)));
    } catch (err) {
      problems.push(`cannot create cgroups under ${this.description} (${(err as Error).message}): run berthd as root`);
    } finally {
      await probe.remove().catch(() => undefined);
    }
    return problems;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

/** One group across the v1 hierarchies. */
export class CgroupV1 implements Cgroup {
  readonly dirs: readonly string[];
  readonly #tracker: string;

  constructor(
    readonly name: string,
    readonly dirOf: ReadonlyMap<V1Controller, string>,
  ) {
    this.dirs = [...new Set(dirOf.values())];
    // pids is the natural list of members; any hierarchy lists the same processes.
    this.#tracker = dirOf.get('pids') ?? this.dirs[0]!;
  }

  /** Writes the limits; swap is capped at the memory limit when the kernel accounts swap (memsw). */
  async applyLimits(limits: CgroupLimits, hasMemsw: boolean): Promise<void> {
    const jobs: Promise<void>[] = [];
    const mem = this.dirOf.get('memory');
    if (mem !== undefined) {
      // A new group inherits oom_kill_disable from its parent: make sure the OOM killer acts inside the group.
      jobs.push(writeControl(join(mem, 'memory.oom_control'), '0'));
      if (limits.memoryMib !== undefined) {
        const bytes = String(limits.memoryMib * 1024 * 1024);
        // memsw must stay >= limit_in_bytes, so it is written after it.
        jobs.push(
          writeControl(join(mem, 'memory.limit_in_bytes'), bytes).then(() =>
            hasMemsw ? writeControl(join(mem, 'memory.memsw.limit_in_bytes'), bytes) : undefined,
          ),
        );
      }
    }
    const pids = this.dirOf.get('pids');
    if (pids !== undefined && limits.pids !== undefined)
      jobs.push(writeControl(join(pids, 'pids.max'), String(limits.pids)));
    const cpu = this.dirOf.get('cpu');
    if (cpu !== undefined && limits.cpus !== undefined) {
      const quota = String(Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US)));
      jobs.push(
        writeControl(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US)).then(() =>
          writeControl(join(cpu, 'cpu.cfs_quota_us'), quota),
        ),
      );
    }
    await Promise.all(jobs);
  }

  async addProcess(pid: number): Promise<void> {
    await Promise.all(this.dirs.map((d) => writeControl(join(d, 'cgroup.procs'), String(pid))));
  }

  pids(): Promise<number[]> {
    return readPids(join(this.#tracker, 'cgroup.procs'));
  }

  async stats(): Promise<CgroupUsage> {
    const at = (c: V1Controller, file: string): Promise<number | null> => {
      const dir = this.dirOf.get(c);
      return dir === undefined ? Promise.resolve(null) : readNumber(join(dir, file));
    };
    const [memoryBytes, cpuNs, pids] = await Promise.all([
      at('memory', 'memory.usage_in_bytes'),
      at('cpuacct', 'cpuacct.usage'),
      // Without the pids controller, count the tasks (threads) listed, which is what pids.current counts.
      at('pids', 'pids.current').then(async (n) => n ?? (await this.#taskCount(join(this.#tracker, 'tasks')))),
    ]);
    return { memoryBytes, cpuUsageUsec: cpuNs === null ? null : Math.round(cpuNs / 1000), pids };
  }

  async #taskCount(file: string): Promise<number | null> {
    return (await this.exists()) ? (await readPids(file)).length : null;
  }

  async oomKills(): Promise<number> {
    const mem = this.dirOf.get('memory');
    if (mem === undefined) return 0;
    return keyedValue(await readText(join(mem, 'memory.oom_control')), 'oom_kill') ?? 0;
  }

  killAll(timeoutMs = 5000): Promise<void> {
    const freezer = this.dirOf.get('freezer');
    const state = freezer === undefined ? undefined : join(freezer, 'freezer.state');
    const target: KillTarget = {
      describe: () => `cgroup ${this.dirs.join(', ')}`,
      listPids: async () => [
        ...new Set((await Promise.all(this.dirs.map((d) => readPids(join(d, 'cgroup.procs'))))).flat()),
      ],
      freeze: async (deadline) => {
        if (state === undefined) return false;
        try {
          await writeControl(state, 'FROZEN');
        } catch (err) {
          if (isGone((err as Error).cause)) return false;
          throw err;
        }
        // FREEZING can linger on a task in uninterruptible sleep; kill anyway after a short wait and thaw.
        await waitFor(
          () => readText(state),
          (t) => t?.trim() !== 'FREEZING',
          Math.min(deadline, Date.now() + 1000),
        );
        return true;
      },
      thaw: async () => {
        if (state !== undefined) await writeControl(state, 'THAWED').catch(() => undefined);
      },
      membershipSuffix: `/${this.#tracker.split('/').slice(-2).join('/')}`,
    };
    return killLoop(target, timeoutMs);
  }

  async remove(): Promise<void> {
    await Promise.all(this.dirs.map(removeDir));
  }

  async exists(): Promise<boolean> {
    return (await Promise.all(this.dirs.map(exists))).some(Boolean);
  }
}
