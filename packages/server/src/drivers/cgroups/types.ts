/** Limits one cgroup enforces. Absent fields mean "unlimited". */
export interface CgroupLimits {
  /** Memory limit in MiB; swap is not allowed on top of it where the kernel lets us say so. */
  memoryMib?: number;
  /** CPU quota in CPUs (fractions allowed), enforced with the CFS bandwidth controller. */
  cpus?: number;
  /** Maximum number of tasks (processes and threads). */
  pids?: number;
}

/** Live usage of one cgroup; null where the controller that reports it is not available. */
export interface CgroupUsage {
  memoryBytes: number | null;
  cpuUsageUsec: number | null;
  pids: number | null;
}

/** The controllers whose limits a manager may be asked to enforce. */
export type LimitController = 'memory' | 'cpu' | 'pids';

/** One cgroup (on v1: the same-named directory in every hierarchy the manager uses). */
export interface Cgroup {
  /** The leaf name, unique under the manager's parent (a sandbox id). */
  readonly name: string;
  /** Every directory backing this group: one per v1 hierarchy, exactly one on v2. */
  readonly dirs: readonly string[];
  /** Moves a process (all its threads) into the group, in every hierarchy. */
  addProcess(pid: number): Promise<void>;
  /** Pids of the processes in the group; empty when the group does not exist. */
  pids(): Promise<number[]>;
  stats(): Promise<CgroupUsage>;
  /** How many processes of this group the kernel OOM killer has killed since the group was created. */
  oomKills(): Promise<number>;
  /**
   * SIGKILLs every process in the group, including ones that forked or setsid()ed away, and resolves once the
   * group is empty. Rejects when processes remain after `timeoutMs`.
   */
  killAll(timeoutMs?: number): Promise<void>;
  /** Removes the group's directories. They must be empty (call `killAll` first). Idempotent. */
  remove(): Promise<void>;
  exists(): Promise<boolean>;
}

/** Creates and finds cgroups under one parent group (e.g. `berth`), on cgroup v1 or v2. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** Where groups are created, for messages (v1: the parent path inside each hierarchy). */
  readonly description: string;
  /** Limits this manager can enforce on this host. A limit outside this set makes `create` throw. */
  readonly enforceable: ReadonlySet<LimitController>;
  /** Creates the group and writes its limits; throws `CgroupLimitUnsupportedError` for a limit it cannot enforce. */
  create(name: string, limits: CgroupLimits): Promise<Cgroup>;
  /**
   * Writes limits onto an existing group, e.g. one created without limits ahead of time and already holding a
   * process. Refuses what `create` refuses. Plain control-file writes: no process is moved.
   */
  limit(name: string, limits: CgroupLimits): Promise<void>;
  /** A handle on an existing (or already removed) group, e.g. after a restart. Does not touch the filesystem. */
  open(name: string): Cgroup;
  /** Names of the groups under the parent (all hierarchies on v1); empty when the parent does not exist. */
  groups(): Promise<string[]>;
  /** Problems that stop this manager from working here, each with how to fix it; empty when usable. */
  check(): Promise<string[]>;
}

/** A cgroup operation failed; the message names the file and what to do. */
export class CgroupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CgroupError';
  }
}

/** A limit was requested that this host's cgroup setup cannot enforce (never silently ignored). */
export class CgroupLimitUnsupportedError extends CgroupError {
  constructor(
    readonly controller: LimitController,
    message: string,
  ) {
    super(message);
    this.name = 'CgroupLimitUnsupportedError';
  }
}

/** Group names are single path segments so that a name can never climb out of the parent. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Throws unless `name` is a safe single path segment. */
export function assertGroupName(name: string, what = 'cgroup name'): void {
  if (!NAME_RE.test(name)) throw new CgroupError(`invalid ${what} '${name}': use letters, digits, '_', '.', '-'`);
}

/**
 * Throws unless `name` is a group name, or `<group>/<child>` (a member of a shared sandbox, whose limits are its
 * group's): two safe segments at most, so a name can still never climb out of the parent.
 */
export function assertGroupPath(name: string): void {
  const segs = name.split('/');
  if (segs.length > 2) throw new CgroupError(`invalid cgroup name '${name}': at most one '/' (group/child)`);
  for (const seg of segs) assertGroupName(seg);
}

/** Throws unless `parent` is a relative path of safe segments (e.g. `berth` or `berth/test-1`). */
export function assertParentPath(parent: string): void {
  for (const seg of parent.split('/')) assertGroupName(seg, `cgroup parent segment in '${parent}'`);
}

/** Throws unless every requested limit is a sane positive number. */
export function assertLimits(limits: CgroupLimits): void {
  const { memoryMib, cpus, pids } = limits;
  if (memoryMib !== undefined && !(Number.isInteger(memoryMib) && memoryMib > 0))
    throw new CgroupError(`memoryMib must be a positive integer, got ${memoryMib}`);
  if (cpus !== undefined && !(Number.isFinite(cpus) && cpus >= 0.01))
    throw new CgroupError(`cpus must be a number >= 0.01, got ${cpus}`);
  if (pids !== undefined && !(Number.isInteger(pids) && pids > 0))
    throw new CgroupError(`pids must be a positive integer, got ${pids}`);
}

/** The controllers the given limits need. */
export function limitControllers(limits: CgroupLimits): LimitController[] {
  const out: LimitController[] = [];
  if (limits.memoryMib !== undefined) out.push('memory');
  if (limits.cpus !== undefined) out.push('cpu');
  if (limits.pids !== undefined) out.push('pids');
  return out;
}

/** CFS period used for CPU quotas (the kernel default). */
export const CFS_PERIOD_US = 100_000;

let probeSeq = 0;

/**
 * A cgroup name for one readiness probe, unique within this process: two probes in the same millisecond (concurrent
 * /readyz calls) must not create, and then remove, the same directory.
 */
export function probeGroupName(): string {
  return `berth-probe-${process.pid}-${Date.now()}-${probeSeq++}`;
}
