import { closeSync, constants, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
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

/** The cgroup2 mount (or delegated subtree) to work in, and the parent group to create groups under. */
export interface CgroupV2Options {
  root: string;
  parent: string;
}

const LIMIT_CONTROLLERS: readonly LimitController[] = ['memory', 'cpu', 'pids'];

/**
 * cgroup v2: one directory per group under `<root>/<parent>`. Controllers must be enabled in the
 * `cgroup.subtree_control` of every ancestor below `root`; `init()` does that once for the ones `root` offers.
 * A limit whose controller is not offered is refused (CgroupLimitUnsupportedError), never ignored.
 */
export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly description: string;
  readonly #parentDir: string;

  private constructor(
    readonly root: string,
    parent: string,
    readonly enforceable: ReadonlySet<LimitController>,
    /** Why each missing controller is missing, for the refusal message. */
    private readonly missing: ReadonlyMap<LimitController, string>,
  ) {
    this.#parentDir = join(root, parent);
    this.description = `cgroup v2 ${this.#parentDir}`;
  }

  /**
   * Creates the parent group and enables every limit controller `root` offers along the way. Synchronous: it runs
   * once at start-up (a few small cgroupfs reads and writes), so that driver capabilities are known at construction.
   */
  static initSync(opts: CgroupV2Options): CgroupV2Manager {
    assertParentPath(opts.parent);
    const offered = readSync(join(opts.root, 'cgroup.controllers')).trim().split(/\s+/);
    const missing = new Map<LimitController, string>();
    const wanted = LIMIT_CONTROLLERS.filter((c) => {
      if (!offered.includes(c))
        missing.set(c, `${join(opts.root, 'cgroup.controllers')} does not offer it (has: '${offered.join(' ')}')`);
      return offered.includes(c);
    });
    // Each level below root must delegate the controllers to its children; the leaf's parent is the last one.
    let dir = opts.root;
    for (const seg of opts.parent.split('/')) {
      enableSync(dir, wanted, missing);
      dir = join(dir, seg);
      mkdirSync(dir, { recursive: true });
    }
    enableSync(dir, wanted, missing);
    const enforceable = new Set(wanted.filter((c) => !missing.has(c)));
    return new CgroupV2Manager(opts.root, opts.parent, enforceable, missing);
  }

  /** `initSync` for callers that prefer a promise. */
  static init(opts: CgroupV2Options): Promise<CgroupV2Manager> {
    return Promise.resolve().then(() => CgroupV2Manager.initSync(opts));
  }

  async limit(name: string, limits: CgroupLimits): Promise<void> {
    this.#refuseUnenforceable(name, limits);
    await this.open(name).applyLimits(limits);
  }

  groups(): Promise<string[]> {
    return childDirs(this.#parentDir);
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    this.#refuseUnenforceable(name, limits);
    const group = this.open(name);
    try {
      await mkdir(group.dir);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'it already exists' : (err as Error).message;
      throw new CgroupError(`cannot create cgroup ${group.dir}: ${why}`, { cause: err });
    }
    try {
      await group.applyLimits(limits);
    } catch (err) {
      await group.remove().catch(() => undefined);
      throw err;
    }
    return group;
  }

  #refuseUnenforceable(name: string, limits: CgroupLimits): void {
    assertGroupPath(name);
    assertLimits(limits);
    for (const c of limitControllers(limits))
      if (!this.enforceable.has(c))
        throw new CgroupLimitUnsupportedError(
          c,
          `a ${c} limit was requested but the cgroup v2 ${c} controller is not available: ${this.missing.get(c) ?? 'unknown'}. ` +
            `Enable it for ${this.root} (e.g. systemd Delegate=yes for berthd's unit) or drop the limit.`,
        );
  }

  open(name: string): CgroupV2 {
    assertGroupPath(name);
    return new CgroupV2(name, join(this.#parentDir, name));
  }

  async check(): Promise<string[]> {
    const probe = this.open(probeGroupName());
    try {
      await mkdir(probe.dir);
      return [];
    } catch (err) {
      return [
        `cannot create cgroups under ${this.#parentDir} (${(err as Error).message}): run berthd as root with a writable cgroup2 mount`,
      ];
    } finally {
      await probe.remove().catch(() => undefined);
    }
  }
}

function readSync(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isGone(err)) return '';
    throw new CgroupError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Enables the controllers in `dir/cgroup.subtree_control` that are not enabled yet; records failures in `missing`. */
function enableSync(dir: string, wanted: readonly LimitController[], missing: Map<LimitController, string>): void {
  const file = join(dir, 'cgroup.subtree_control');
  const current = readSync(file).trim().split(/\s+/);
  for (const c of wanted) {
    if (current.includes(c) || missing.has(c)) continue;
    try {
      const fd = openSync(file, constants.O_WRONLY);
      try {
        writeSync(fd, `+${c}`);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      // EBUSY here is the v2 "no internal processes" rule: `dir` holds processes itself.
      missing.set(
        c,
        `enabling it in ${file} failed (${(err as Error).message}); if ${dir} contains processes, point the cgroup root at a subtree without them`,
      );
    }
  }
}

/** One v2 group. */
export class CgroupV2 implements Cgroup {
  readonly dirs: readonly string[];

  constructor(
    readonly name: string,
    readonly dir: string,
  ) {
    this.dirs = [dir];
  }

  /** Writes the limits; swap is forbidden (memory.swap.max=0) where the kernel has swap accounting. */
  async applyLimits(limits: CgroupLimits): Promise<void> {
    const jobs: Promise<void>[] = [];
    if (limits.memoryMib !== undefined) {
      jobs.push(writeControl(join(this.dir, 'memory.max'), String(limits.memoryMib * 1024 * 1024)));
      jobs.push(
        stat(join(this.dir, 'memory.swap.max')).then(
          () => writeControl(join(this.dir, 'memory.swap.max'), '0'),
          () => undefined,
        ),
      );
    }
    if (limits.pids !== undefined) jobs.push(writeControl(join(this.dir, 'pids.max'), String(limits.pids)));
    if (limits.cpus !== undefined) {
      const quota = Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US));
      jobs.push(writeControl(join(this.dir, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`));
    }
    await Promise.all(jobs);
  }

  addProcess(pid: number): Promise<void> {
    return writeControl(join(this.dir, 'cgroup.procs'), String(pid));
  }

  pids(): Promise<number[]> {
    return readPids(join(this.dir, 'cgroup.procs'));
  }

  async stats(): Promise<CgroupUsage> {
    const [memoryBytes, cpuStat, pids] = await Promise.all([
      readNumber(join(this.dir, 'memory.current')),
      readText(join(this.dir, 'cpu.stat')),
      // Without the pids controller, count cgroup.threads, which lists the same tasks pids.current counts.
      readNumber(join(this.dir, 'pids.current')).then(async (n) =>
        n !== null || !(await this.exists()) ? n : (await readPids(join(this.dir, 'cgroup.threads'))).length,
      ),
    ]);
    return { memoryBytes, cpuUsageUsec: keyedValue(cpuStat, 'usage_usec'), pids };
  }

  async oomKills(): Promise<number> {
    return keyedValue(await readText(join(this.dir, 'memory.events')), 'oom_kill') ?? 0;
  }

  /** cgroup.kill (Linux 5.14+) kills the whole group atomically; older kernels fall back to freeze + kill. */
  async killAll(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const events = join(this.dir, 'cgroup.events');
    const empty = (t: string | undefined): boolean => t === undefined || keyedValue(t, 'populated') === 0;
    try {
      await writeControl(join(this.dir, 'cgroup.kill'), '1');
      if (await waitFor(() => readText(events), empty, deadline)) return;
      throw new CgroupError(
        `processes remain in ${this.dir} ${timeoutMs} ms after cgroup.kill; check for tasks in state D`,
      );
    } catch (err) {
      if (err instanceof CgroupError && isGone(err.cause)) {
        // No cgroup.kill file: either the group is gone (done) or the kernel predates it (fall back).
        if (!(await this.exists())) return;
      } else throw err;
    }
    const freezeFile = join(this.dir, 'cgroup.freeze');
    const target: KillTarget = {
      describe: () => `cgroup ${this.dir}`,
      listPids: () => this.pids(),
      freeze: async (dl) => {
        const ok = await writeControl(freezeFile, '1').then(
          () => true,
          () => false,
        );
        if (!ok) return false;
        await waitFor(
          () => readText(events),
          (t) => keyedValue(t, 'frozen') !== 0,
          Math.min(dl, Date.now() + 1000),
        );
        return true;
      },
      thaw: () => writeControl(freezeFile, '0').catch(() => undefined),
      membershipSuffix: `/${this.dir.split('/').slice(-2).join('/')}`,
    };
    return killLoop(target, Math.max(0, deadline - Date.now()));
  }

  remove(): Promise<void> {
    return removeDir(this.dir);
  }

  async exists(): Promise<boolean> {
    try {
      await stat(this.dir);
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  }
}
