import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isId } from '@berth/protocol';
import { LAUNCH_SCRIPT } from '../bwrap/argv.js';
import { sweepUnrecordedDisks } from '../bwrap/disks.js';
import {
  createSandboxDir,
  grantRunDir,
  makeOwnedDirs,
  removeSandboxDirs,
  sandboxPaths,
  type SandboxPaths,
} from '../bwrap/fsprep.js';
import { launch, type Launched } from '../bwrap/launcher.js';
import { checkDiskImage, checkResources, diskOf, resolveSpecDir, validateSpec } from '../bwrap/spec.js';
import { UidAllocator, type UidRange } from '../bwrap/uids.js';
import { asDriverError, closeQuietly } from '../bwrap/util.js';
import { createCgroupManagerSync, UnavailableCgroupManager, type CgroupManager } from '../cgroups/index.js';
import { FormattedImagePool, workspaceDiskUnsupported } from '../disk/index.js';
import type {
  DestroyOptions,
  DriverCapabilities,
  SandboxDriver,
  SandboxInfo,
  SandboxSpec,
  SandboxStats,
  SandboxStatus,
} from '../driver.js';
import { SandboxDriverError } from '../errors.js';
import type { DriverLogger } from '../logger.js';
import { ociConfig } from './bundle.js';
import { stageReadOnlyFiles } from '../readonly-files.js';
import { checkGvisorHost } from './check.js';
import { discoverGvisorHost, writeBundle, type GvisorHost } from './host.js';
import { hostLimits } from './limits.js';
import { infoOf, readRecord, writeRecord, type GvisorRecord } from './record.js';
import { deleteContainer, guestPids, runArgv } from './runsc.js';

/** Default host uids of gVisor sandboxes: right after bwrap's default range, so the two never overlap. */
export const DEFAULT_GVISOR_UID_RANGE: UidRange = { start: 260_000, count: 60_000 };

/** Everything the gVisor driver depends on, injected by the composition root. */
export interface GvisorDriverOptions {
  /** Host directory holding one directory per sandbox (workspace, home, bundle, logs, sandbox.json). */
  sandboxesDir: string;
  /** runsc's `--root` state directory, owned by this driver alone. Default `<sandboxesDir>/.runsc`. */
  stateDir?: string;
  logger: DriverLogger;
  /** Where sandbox cgroups live. Default: detected on this host (parent `berth`). */
  cgroups?: CgroupManager;
  /** Host uids for sandboxes, one per sandbox; must not overlap any other driver's range. */
  uidRange?: UidRange;
  /** runsc binary: absolute path or a name looked up in the standard bin dirs. Default `runsc`. */
  runscPath?: string;
  /** The node binary sandboxes run; its prefix is bound read-only when outside /usr. Default process.execPath. */
  nodePath?: string;
  /** How long destroy() keeps SIGKILLing before it gives up. Default 10 s. */
  killTimeoutMs?: number;
  /** How long `runsc run --detach` may take to start a sandbox. Default 30 s. */
  startTimeoutMs?: number;
  /**
   * Whether `resources.diskMib` is honoured with a loop-mounted ext4 image holding workspace and home (see ../disk/),
   * bound into the bundle; the gofer writes through that mount, so the kernel enforces the size. Default: when this
   * host can (root, loop devices, e2fsprogs); false declares `diskLimit: false`, so quotas are refused.
   */
  workspaceDisks?: boolean;
  /** Keep one workspace disk image formatted ahead, of the size last asked for (skips mkfs on create). Default true. */
  diskImagePool?: boolean;
}

/** Directory (inside sandboxesDir, not a sandbox id) of the workspace disk images formatted ahead. */
const DISK_POOL_DIR = '.disk-pool';

/**
 * gVisor driver: each sandbox is a runsc container (ptrace platform, `--network=none`) started from an OCI bundle
 * generated per sandbox, with the same layout as a bwrap sandbox (workspace, home, /run/berth, /opt/berth, curated
 * /etc) and the guest user mapped to its own host uid. The guest's system calls are served by gVisor's user-space
 * kernel, not the host's. Sandboxes outlive berthd; `list()` finds them again from their sandbox.json.
 * See README.md ("gVisor driver") and docs/adr for the design.
 */
export class GvisorDriver implements SandboxDriver {
  readonly name = 'gvisor';
  readonly capabilities: DriverCapabilities;
  readonly #dir: string;
  readonly #stateDir: string;
  readonly #log: DriverLogger;
  readonly #cgroups: CgroupManager;
  readonly #uids: UidAllocator;
  readonly #opts: GvisorDriverOptions;
  #host: Promise<GvisorHost> | undefined;
  #smokeTested = false;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Why this driver cannot make workspace disks, or undefined when it can. */
  readonly #noDisks: string | undefined;
  readonly #images: FormattedImagePool | undefined;

  constructor(opts: GvisorDriverOptions) {
    if (!isAbsolute(opts.sandboxesDir))
      throw new SandboxDriverError('invalid_spec', `sandboxesDir must be absolute, got '${opts.sandboxesDir}'`);
    this.#opts = opts;
    this.#dir = resolve(opts.sandboxesDir);
    this.#stateDir = resolve(opts.stateDir ?? join(this.#dir, '.runsc'));
    this.#log = opts.logger.child({ driver: 'gvisor' });
    this.#cgroups = opts.cgroups ?? defaultCgroups();
    this.#uids = new UidAllocator(opts.uidRange ?? DEFAULT_GVISOR_UID_RANGE);
    const can = this.#cgroups.enforceable;
    this.#noDisks = opts.workspaceDisks === false ? 'workspace disks are turned off' : workspaceDiskUnsupported();
    this.#images =
      this.#noDisks === undefined && opts.diskImagePool !== false
        ? new FormattedImagePool(join(this.#dir, DISK_POOL_DIR), this.#log)
        : undefined;
    this.capabilities = {
      // The host cgroup bounds the whole sandbox, gVisor's own kernel included: going over kills all of it.
      memoryLimit: can.has('memory'),
      memoryLimitScope: 'sandbox',
      cpuLimit: can.has('cpu'),
      // Enforced inside gVisor (RLIMIT_NPROC of the guest user), with a host pids backstop where available.
      pidsLimit: true,
      // Workspace and home sit on a loop-mounted ext4 image the gofer writes through: ENOSPC comes from the host.
      diskLimit: this.#noDisks === undefined,
      survivesRestart: true,
      // Not verified yet: files written on the host into a running gVisor sandbox may stay invisible to it.
      snapshot: false,
      // One runsc sandbox runs one container: members with their own uids in one sandbox are not built here.
      shared: false,
    };
  }

  get #killTimeout(): number {
    return this.#opts.killTimeoutMs ?? 10_000;
  }

  /** Host problems; the real smoke-test sandbox runs until it first succeeds (readiness probes call this often). */
  async check(): Promise<string[]> {
    const problems = await checkGvisorHost({
      runscPath: this.#opts.runscPath ?? 'runsc',
      stateDir: this.#stateDir,
      cgroups: this.#cgroups,
      smokeTested: this.#smokeTested,
    });
    if (problems.length === 0) this.#smokeTested = true;
    return problems;
  }

  async create(spec: SandboxSpec): Promise<SandboxInfo> {
    validateSpec(spec);
    checkResources(spec.resources, this.capabilities, this.#noDisks, 'gvisor');
    checkDiskImage(spec, this.capabilities, 'gvisor'); // no diskHandover (yet): refused
    if (spec.shared !== undefined)
      throw new SandboxDriverError(
        'unsupported_resource',
        'the gvisor driver cannot make shared sandboxes (capabilities.shared=false); use the bwrap driver',
      );
    return this.#withLock(spec.id, () => this.#createWithImage(spec));
  }

  /**
   * Runs the start-up discovery now rather than at the first create(): finds runsc, re-reserves the uids of
   * sandboxes on disk and sweeps the workspace disks of sandboxes that were never recorded.
   */
  async warmUp(): Promise<void> {
    await this.#init();
  }

  /** Releases the image formatted ahead; sandboxes keep running. */
  async close(): Promise<void> {
    await this.#images?.close();
  }

  /** create() with a disk image formatted ahead when one of the right size is ready; the pool is topped up after. */
  async #createWithImage(spec: SandboxSpec): Promise<SandboxInfo> {
    const { diskMib } = spec.resources;
    const formatted = diskMib === undefined ? undefined : this.#images?.take(diskMib);
    try {
      return await this.#create(spec, formatted);
    } finally {
      // A used image was moved into the sandbox; one left unused (a failure before the disk was made) goes.
      if (formatted !== undefined) await rm(formatted, { force: true }).catch(() => undefined);
      this.#images?.fill();
    }
  }

  /**
   * The disk (when asked for) is mounted before runsc starts: the gofer's mount namespace is a copy of the host's
   * taken at start, and it serves /workspace and /home/agent from the bound `disk/workspace` and `disk/home`.
   */
  async #create(spec: SandboxSpec, formatted: string | undefined): Promise<SandboxInfo> {
    const host = await this.#init();
    const uid = this.#uids.allocate();
    const paths = sandboxPaths(this.#dir, spec.id, spec.resources.diskMib !== undefined);
    const bundle = join(paths.dir, 'bundle');
    const made = { dir: false, cgroup: false };
    let launched: Launched | undefined;
    let logFile: Promise<FileHandle> | undefined;
    try {
      const [installDir, runDir] = await Promise.all([
        resolveSpecDir(spec.installDir, 'installDir', this.#dir, spec.installPaths),
        resolveSpecDir(spec.runDir, 'runDir', this.#dir),
        createSandboxDir(paths).then(() => (made.dir = true)),
      ]);
      const readOnly = await stageReadOnlyFiles(paths.dir, spec.readOnlyFiles, uid);
      const limits = hostLimits(spec.resources, this.#cgroups.enforceable.has('pids'));
      await Promise.all([
        this.#cgroups.create(spec.id, limits.cgroup).then(() => (made.cgroup = true)),
        makeOwnedDirs(paths, uid, uid, diskOf(spec, formatted)),
        grantRunDir(runDir, uid),
      ]);
      const config = ociConfig({
        layout: host.layout,
        sources: {
          install: installDir,
          installPaths: spec.installPaths,
          run: runDir,
          workspace: paths.workspace,
          home: paths.home,
          passwd: host.passwd,
          group: host.group,
          extra: [...(host.node === undefined ? [] : [{ source: host.node, dest: host.node }]), ...readOnly],
        },
        command: spec.command,
        env: spec.env,
        hostUid: uid,
        nproc: limits.nproc,
      });
      await writeBundle(bundle, config, host.layout);
      logFile = open(paths.logFile, 'a', 0o600);
      const argv = runArgv(this.#stateDir, { id: spec.id, bundle, log: join(paths.dir, 'runsc.log') });
      launched = await launch({
        argv: ['-c', LAUNCH_SCRIPT, 'berth-launch', host.runsc, ...argv],
        logFd: (await logFile).fd,
        leakedFds: host.leakedFds,
      });
      await closeQuietly(logFile);
      const record: GvisorRecord = {
        version: 1,
        id: spec.id,
        driver: 'gvisor',
        hostUid: uid,
        pid: launched.pid,
        cgroup: spec.id,
        workspaceDir: paths.workspace,
        homeDir: paths.home,
        logFile: paths.logFile,
        runDir,
        installDir,
        command: [...spec.command],
        resources: { ...spec.resources },
        createdAt: new Date().toISOString(),
      };
      // Recorded and in the cgroup before the gate opens: runsc and everything it starts are born in the group.
      await Promise.all([this.#cgroups.open(spec.id).addProcess(launched.pid), writeRecord(paths.dir, record)]);
      launched.release('go\n');
      await this.#started(spec.id, launched.child, paths.dir);
      // runsc has copied the spec into its state dir; the bundle's copy of the environment is not kept.
      await rm(join(bundle, 'config.json'), { force: true });
      this.#log.debug({ sandbox: spec.id, uid, pid: launched.pid }, 'sandbox started');
      return infoOf(record, 'running');
    } catch (err) {
      await closeQuietly(logFile);
      await this.#rollback(spec.id, paths, made, launched, uid);
      throw asDriverError(err, `creating sandbox ${spec.id} failed`);
    }
  }

  /** Waits for `runsc run --detach` to exit; a non-zero exit is a failed start, explained from runsc's log. */
  async #started(id: string, child: ChildProcess, dir: string): Promise<void> {
    const timeout = this.#opts.startTimeoutMs ?? 30_000;
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? [child.exitCode, child.signalCode]
        : await Promise.race([once(child, 'exit'), sleep(timeout).then(() => undefined)]);
    if (exited === undefined) throw new Error(`runsc did not start sandbox ${id} within ${timeout} ms`);
    const [code, signal] = exited as [number | null, string | null];
    if (code === 0) return;
    const log = await readFile(join(dir, 'runsc.log'), 'utf8').catch(() => '');
    const last = log.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`runsc run exited with ${code ?? signal}: ${last || 'no log'} (see ${join(dir, 'runsc.log')})`);
  }

  async #rollback(
    id: string,
    paths: SandboxPaths,
    made: { dir: boolean; cgroup: boolean },
    launched: Launched | undefined,
    uid: number,
  ): Promise<void> {
    const warn = (what: string) => (err: unknown) =>
      this.#log.error({ sandbox: id, err: (err as Error).message }, `rollback: ${what} failed`);
    launched?.abort();
    const group = this.#cgroups.open(id);
    if (made.cgroup) await group.killAll(this.#killTimeout).then(() => group.remove(), warn('removing the cgroup'));
    const host = await this.#host?.catch(() => undefined);
    if (host) await deleteContainer(host.runsc, this.#stateDir, id).catch(warn('runsc delete'));
    // The disk (if it was made) is unmounted and deleted before the directory goes.
    if (made.dir) await removeSandboxDirs(paths, false).catch(warn('removing the sandbox directory'));
    this.#uids.release(uid);
  }

  async destroy(id: string, opts: DestroyOptions = {}): Promise<void> {
    if (!isId('sandbox', id)) return;
    await this.#withLock(id, async () => {
      const paths = sandboxPaths(this.#dir, id);
      const record = await readRecord(paths.dir).catch(() => undefined);
      const group = this.#cgroups.open(record?.cgroup ?? id);
      try {
        // By cgroup membership: Sentry, gofer and every ptrace stub, however they were re-parented.
        await group.killAll(this.#killTimeout);
        await group.remove();
        const host = await this.#init();
        await deleteContainer(host.runsc, this.#stateDir, id);
        await Promise.all(['bundle', 'runsc.log'].map((n) => rm(join(paths.dir, n), { recursive: true, force: true })));
        // Only now that no gofer can hold it: the disk is unmounted and deleted, or kept mounted with the workspace.
        await removeSandboxDirs(paths, opts.keepWorkspace === true);
      } catch (err) {
        throw asDriverError(err, `destroying sandbox ${id} failed`);
      }
      if (record) this.#uids.release(record.hostUid);
    });
  }

  async inspect(id: string): Promise<SandboxInfo | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    return record && infoOf(record, await this.#status(record));
  }

  async list(): Promise<SandboxInfo[]> {
    const names = await readdir(this.#dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const records = await Promise.all(
      names.filter((n) => isId('sandbox', n)).map((n) => readRecord(join(this.#dir, n)).catch(() => undefined)),
    );
    const found = records.filter((r): r is GvisorRecord => r !== undefined).sort((a, b) => (a.id < b.id ? -1 : 1));
    return Promise.all(found.map(async (r) => infoOf(r, await this.#status(r))));
  }

  /**
   * Memory and CPU of the whole sandbox on the host (gVisor's kernel included), from its cgroup; `pids` counts the
   * guest's processes (`runsc ps`), which is what `resources.pids` limits, not the host tasks gVisor runs them on.
   */
  async stats(id: string): Promise<SandboxStats | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    if (record === undefined) return undefined;
    const usage = await this.#cgroups.open(record.cgroup).stats();
    const host = await this.#init();
    const guest = usage.pids ? await guestPids(host.runsc, this.#stateDir, id) : [];
    return { ...usage, pids: guest?.length ?? 0 };
  }

  /** How many times the sandbox's cgroup hit its memory limit with a kill (each kills the whole sandbox). */
  async oomKills(id: string): Promise<number | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    return record && this.#cgroups.open(record.cgroup).oomKills();
  }

  async #status(r: GvisorRecord): Promise<SandboxStatus> {
    return (await this.#cgroups.open(r.cgroup).pids()).length > 0 ? 'running' : 'exited';
  }

  /** Discovers the host once (retried after a failure) and re-reserves the uids of sandboxes already on disk. */
  #init(): Promise<GvisorHost> {
    if (this.#host === undefined) {
      this.#host = this.#discover();
      this.#host.catch(() => (this.#host = undefined));
    }
    return this.#host;
  }

  async #discover(): Promise<GvisorHost> {
    const host = await discoverGvisorHost({
      sandboxesDir: this.#dir,
      stateDir: this.#stateDir,
      runscPath: this.#opts.runscPath ?? 'runsc',
      nodePath: this.#opts.nodePath ?? process.execPath,
    });
    for (const s of await this.list()) this.#uids.reserve(s.hostUid);
    await sweepUnrecordedDisks(this.#dir, this.#log);
    await this.#images?.clear(); // images formatted ahead by an earlier berthd
    return host;
  }

  async #withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}

function defaultCgroups(): CgroupManager {
  try {
    return createCgroupManagerSync();
  } catch (err) {
    return new UnavailableCgroupManager((err as Error).message);
  }
}
