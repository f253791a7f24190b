/**
 * The sandbox driver contract. berthd's session layer talks only to this interface; `bwrap/` (default) and later
 * `gvisor/`, `docker/`, … implement it, and `conformance.ts` is the one suite every implementation must pass.
 *
 * A sandbox is a set of processes that berthd started and tracks by cgroup. It holds no secret. It runs one
 * command (the runner) as a non-root uid, with no network but `lo`, and reaches berthd only through the unix
 * sockets in `runDir`, which the driver bind-mounts at `SANDBOX_PATHS.runDir`.
 */

/** Resource limits a sandbox may be given. Absent fields mean "driver default / unlimited". */
export interface SandboxResources {
  /** Memory limit in MiB (cgroup memory.max / memory.limit_in_bytes). */
  memoryMib?: number;
  /** CPU quota in CPUs (fractions allowed), enforced with CFS quota. */
  cpus?: number;
  /** Maximum number of tasks (pids.max). */
  pids?: number;
  /** Workspace disk quota in MiB. */
  diskMib?: number;
}

/** What a driver can enforce. A request for something a driver cannot do is refused, never silently ignored. */
export interface DriverCapabilities {
  memoryLimit: boolean;
  /**
   * What going over the memory limit kills: one process (the kernel's OOM killer picks it; bwrap) or the whole
   * sandbox (gVisor, whose kernel is one host process group under the limit). Absent means `process`.
   */
  memoryLimitScope?: 'process' | 'sandbox';
  cpuLimit: boolean;
  pidsLimit: boolean;
  diskLimit: boolean;
  /** True when sandboxes keep running if berthd exits, and `list()` can find them again. */
  survivesRestart: boolean;
  /**
   * True when berthd may read and write a sandbox's workspace and home on the host while the sandbox runs, before
   * its agent starts: what hibernation (snapshot and restore) and kept artifacts need.
   */
  snapshot: boolean;
  /**
   * True when a sandbox's workspace disk (its `diskImage`) can be handed over whole: `destroy` with `detachDiskTo`
   * moves the image out instead of deleting it, and `create` with `SandboxSpec.diskImage` starts a sandbox on it.
   * Hibernation then moves the image instead of copying the files. Absent means false.
   */
  diskHandover?: boolean;
  /**
   * True when several sandboxes can be members of one shared sandbox (`SandboxSpec.shared`): one cgroup, one
   * shared directory, each member its own uid, workspace and home (docs/adr/0019-shared-sandboxes.md). Absent: false.
   */
  shared?: boolean;
}

/** Most members one shared sandbox takes; the session layer opens another shared sandbox beyond it. */
export const SHARED_MAX_MEMBERS = 32;

/**
 * Where a sandbox joins a shared sandbox: `group` (`shr_…`, chosen by the caller) is created with the first member
 * (its cgroup limited by that member's resources, which then hold for the whole group) and removed with the last.
 */
export interface SharedPlacement {
  group: string;
}

/** What a member of a shared sandbox is given (see `SharedPlacement`). */
export interface SharedMembership {
  group: string;
  /** The member's uid (and gid) inside: 1000 + its index, distinct among the group's live members. */
  uid: number;
}

export interface SandboxSpec {
  /** `sbx_…` id chosen by the caller; unique. */
  id: string;
  /** argv of the process to run inside the sandbox (the runner), e.g. ['/usr/bin/node', '/opt/berth/…/runner.cjs']. */
  command: string[];
  /** The complete environment of that process (nothing is inherited from berthd). */
  env: Record<string, string>;
  /**
   * Host directory bind-mounted at `SANDBOX_PATHS.runDir` (read-only mount; berthd's sockets live there).
   * Created by the caller before `create()`.
   */
  runDir: string;
  /** Host directory of the Berth installation, bind-mounted read-only at `SANDBOX_PATHS.install`. */
  installDir: string;
  /**
   * When given, only these paths below `installDir` (relative, e.g. `node_modules`) are visible, each at the same
   * place below `SANDBOX_PATHS.install`; the rest of the installation (sources, a data dir inside it) is not.
   */
  installPaths?: string[];
  resources: SandboxResources;
  /**
   * Host files shown read-only inside the sandbox at `dest` (e.g. Files API uploads attached as session
   * resources). The driver copies each into the sandbox's own directory at create() (root:<sandbox gid>, 0440) and
   * binds the copy read-only; the sandbox can read it and change nothing. Destinations are checked with
   * `mountPathProblem` (absolute, normalised, outside system paths, the workspace and home).
   */
  readOnlyFiles?: ReadOnlyFile[];
  /**
   * A workspace disk image an earlier sandbox handed over (`destroy` with `detachDiskTo`): the new sandbox's
   * workspace and home are that disk's, given to its uid, instead of a new empty disk. Needs
   * `capabilities.diskHandover` and `resources.diskMib` equal to the image's size. The driver takes the image over:
   * once create resolves it is gone from this path; when create fails it is left here, untouched.
   */
  diskImage?: string;
  /** Makes this sandbox a member of a shared sandbox; only for drivers declaring `capabilities.shared`. */
  shared?: SharedPlacement;
}

/** One read-only file of a sandbox: host `source`, sandbox path `dest`. */
export interface ReadOnlyFile {
  source: string;
  dest: string;
}

export type SandboxStatus = 'running' | 'exited';

/** What is observed about a sandbox. Persisted by the driver so that `list()` works after a berthd restart. */
export interface SandboxInfo {
  id: string;
  driver: string;
  status: SandboxStatus;
  /** Host pid of the sandbox's top process (bwrap), when known. */
  pid: number | null;
  /** Host uid the sandbox's processes run as. */
  hostUid: number;
  /** Host directory mounted at /workspace. */
  workspaceDir: string;
  /** Host directory mounted at the sandbox user's home. */
  homeDir: string;
  /** Host file receiving the sandboxed command's stdout and stderr. */
  logFile: string;
  /** Host path of the sandbox's workspace disk image, when it has one (`resources.diskMib`). */
  diskImage?: string;
  /**
   * Name of the cgroup tracking the sandbox (a leaf under the driver's cgroup parent, the same in every v1
   * hierarchy), for drivers that use one. Not derived from the id: a pre-placed launcher's group is named before
   * its sandbox exists.
   */
  cgroup?: string;
  /** Set on a member of a shared sandbox. */
  shared?: SharedMembership;
  createdAt: string;
}

/** Live resource usage of a sandbox, read from its cgroup. */
export interface SandboxStats {
  memoryBytes: number | null;
  cpuUsageUsec: number | null;
  pids: number | null;
}

export interface DestroyOptions {
  /** Keep the workspace directory on the host (artifacts retrievable after the sandbox is gone). */
  keepWorkspace?: boolean;
  /**
   * Hand the workspace disk over instead of deleting it: once every process is gone and its filesystem is cleanly
   * unmounted, the image is moved (renamed) to this absolute path, which must be on the image's filesystem (a file
   * already there is replaced). Only for a sandbox with a disk, on a driver with `capabilities.diskHandover`; not with `keepWorkspace`.
   * When it cannot be done destroy fails, and the image stays with the sandbox until a later destroy.
   */
  detachDiskTo?: string;
}

export interface SandboxDriver {
  /** Stable driver name, e.g. `bwrap`. */
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /**
   * Checks that the driver can work on this host (binary present, cgroups writable, …).
   * Resolves with a list of problems, each saying how to fix it; empty when usable.
   */
  check(): Promise<string[]>;
  /**
   * Starts the sandbox and returns once its command has been spawned inside (readiness of the command itself is
   * signalled by the runner over the control socket, not by the driver).
   * Refuses resources the driver cannot enforce.
   */
  create(spec: SandboxSpec): Promise<SandboxInfo>;
  /**
   * Kills every process of the sandbox, removes its cgroups, mounts and (unless kept) directories.
   * Idempotent: destroying an unknown or already destroyed sandbox resolves.
   */
  destroy(id: string, opts?: DestroyOptions): Promise<void>;
  /** The sandbox, or undefined when unknown. */
  inspect(id: string): Promise<SandboxInfo | undefined>;
  /** Every sandbox this driver knows on this host, running or exited (used to re-adopt or clean up). */
  list(): Promise<SandboxInfo[]>;
  /** Live usage, or undefined when the sandbox is unknown. */
  stats(id: string): Promise<SandboxStats | undefined>;
  /** How many of the sandbox's processes were killed for exceeding its memory limit; undefined when unknown. */
  oomKills?(id: string): Promise<number | undefined>;
  /**
   * Releases what the driver holds on its own behalf (e.g. pre-started launchers). Sandboxes keep running.
   * The driver must not be used afterwards.
   */
  close?(): Promise<void>;
}
