import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { isId, SANDBOX_UID } from '@berth/protocol';
import {
  detachWorkspaceDisk,
  FormattedImagePool,
  removeWorkspaceDisk,
  workspaceDiskUnsupported,
} from '../disk/index.js';
import { createCgroupManagerSync, UnavailableCgroupManager, type CgroupManager } from '../cgroups/index.js';
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
import { envPayload, type SandboxSources } from './argv.js';
import { checkHost } from './check.js';
import {
  createSandboxDir,
  diskPaths,
  grantRunDir,
  makeOwnedDirs,
  removeSandboxDirs,
  sandboxPaths,
  type SandboxPaths,
} from './fsprep.js';
import { discoverHost, type Host } from './discover.js';
import { sweepUnrecordedDisks } from './disks.js';
import { traversable } from './host.js';
import { launchDirect } from './direct.js';
import type { Launched } from './launcher.js';
import { unmountUnder } from './mounts.js';
import { readRecord, writeRecord, type SandboxRecord } from './record.js';
import { asDriverError, closeQuietly, infoOf } from './util.js';
import { stageReadOnlyFiles } from '../readonly-files.js';
import { fitsPool, startPooled } from './claim.js';
import { LauncherPool, sweepPoolGroups } from './pool.js';
import {
  makeOutbox,
  memberDirs,
  planMember,
  removeMember,
  removeGroupIfEmpty,
  sweepSharedGroups,
  type MemberPlan,
} from './shared.js';
import {
  checkDiskImage,
  checkResources,
  checkShared,
  diskOf,
  releaseHandedOver,
  resolveSpecDir,
  validateSpec,
} from './spec.js';
import { DEFAULT_UID_RANGE, UidAllocator } from './uids.js';
import type { BwrapDriverOptions } from './options.js';

export type { BwrapDriverOptions } from './options.js';

/**
 * The default driver: each sandbox is a bubblewrap sandbox run as its own non-root host uid, in its own user,
 * pid, network (only `lo`), ipc, uts and cgroup namespaces, with a minimal read-only view of the host, tracked and
 * limited by a cgroup that every one of its processes is born in. Sandboxes outlive berthd; `list()` finds them
 * again from their sandbox.json. See README.md for the isolation and threat model.
 */
export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  readonly capabilities: DriverCapabilities;
  readonly #dir: string;
  readonly #log: DriverLogger;
  readonly #cgroups: CgroupManager;
  readonly #uids: UidAllocator;
  readonly #opts: BwrapDriverOptions;
  #host: Promise<Host> | undefined;
  /** Serializes create/destroy per sandbox id. */
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Launchers started by this process, so destroy() can wait until they are reaped. */
  readonly #children = new Map<string, ChildProcess>();
  readonly #pool: LauncherPool | undefined;
  /** Why this driver cannot make workspace disks, or undefined when it can. */
  readonly #noDisks: string | undefined;
  readonly #images: FormattedImagePool | undefined;

  constructor(opts: BwrapDriverOptions) {
    if (!isAbsolute(opts.sandboxesDir))
      throw new SandboxDriverError('invalid_spec', `sandboxesDir must be absolute, got '${opts.sandboxesDir}'`);
    this.#opts = opts;
    this.#dir = resolve(opts.sandboxesDir);
    this.#log = opts.logger.child({ driver: 'bwrap' });
    this.#cgroups = opts.cgroups ?? defaultCgroups();
    this.#uids = new UidAllocator(opts.uidRange ?? DEFAULT_UID_RANGE);
    const can = this.#cgroups.enforceable;
    this.#noDisks = opts.workspaceDisks === false ? 'workspace disks are turned off' : workspaceDiskUnsupported();
    this.capabilities = {
      memoryLimit: can.has('memory'),
      cpuLimit: can.has('cpu'),
      pidsLimit: can.has('pids'),
      diskLimit: this.#noDisks === undefined,
      survivesRestart: true,
      snapshot: true,
      diskHandover: this.#noDisks === undefined,
      shared: true,
    };
    this.#images =
      this.#noDisks === undefined && opts.diskImagePool !== false
        ? new FormattedImagePool(join(this.#dir, DISK_POOL_DIR), this.#log)
        : undefined;
    const size = opts.launcherPool ?? 1;
    if (!Number.isInteger(size) || size < 0)
      throw new SandboxDriverError('invalid_spec', `launcherPool must be an integer >= 0, got ${size}`);
    this.#pool =
      size === 0
        ? undefined
        : new LauncherPool({
            size,
            cgroups: this.#cgroups,
            uids: this.#uids,
            host: () => this.#init(),
            disableNestedUserns: opts.disableNestedUserns ?? true,
            killTimeoutMs: this.#killTimeout,
            log: this.#log,
          });
  }

  get #killTimeout(): number {
    return this.#opts.killTimeoutMs ?? 10_000;
  }

  check(): Promise<string[]> {
    return checkHost({
      bwrapPath: this.#opts.bwrapPath ?? 'bwrap',
      setprivPath: this.#opts.setprivPath ?? 'setpriv',
      sandboxesDir: this.#dir,
      uidRange: this.#uids.range,
      cgroups: this.#cgroups,
    });
  }

  async create(spec: SandboxSpec): Promise<SandboxInfo> {
    validateSpec(spec);
    checkResources(spec.resources, this.capabilities, this.#noDisks);
    checkDiskImage(spec, this.capabilities);
    const group = spec.shared?.group;
    if (group === undefined) return this.#withLock(spec.id, () => this.#create(spec));
    checkShared(spec);
    // The group's lock too: a member's create and the last member's destroy (which removes the group) never overlap.
    return this.#withLock(spec.id, () => this.#withLock(group, () => this.#createMember(spec, group)));
  }

  /** Starts the launcher pool now rather than at the first create(), and resolves once it is ready. */
  async warmUp(): Promise<void> {
    await this.#init();
    await this.#pool?.warm();
  }

  /**
   * Kills the idle pooled launchers and removes their cgroups; sandboxes keep running. create() still works
   * afterwards, without the pool.
   */
  async close(): Promise<void> {
    await Promise.all([this.#pool?.close(), this.#images?.close()]);
  }

  /** A member of a shared sandbox: always the direct path (a pooled launcher has its own cgroup and identity). */
  async #createMember(spec: SandboxSpec, group: string): Promise<SandboxInfo> {
    const host = await this.#init();
    const plan = await planMember(this.#dir, this.#cgroups, group, spec.id, spec.resources).catch((err: unknown) => {
      throw asDriverError(err, `joining shared sandbox ${group} failed`);
    });
    try {
      return await this.#createDirect(host, spec, undefined, plan);
    } catch (err) {
      // A group this create made has no member now: it goes, as it would with its last member.
      await removeGroupIfEmpty(this.#dir, this.#cgroups, group, this.#killTimeout).catch(() => undefined);
      throw err;
    }
  }

  /** A pooled launcher when one is ready and fits, else the direct path; either way the pool is topped up after. */
  async #create(spec: SandboxSpec): Promise<SandboxInfo> {
    const host = await this.#init();
    const entry = fitsPool(spec) ? this.#pool?.take() : undefined;
    const { diskMib } = spec.resources;
    // A sandbox started on a handed-over disk needs no new one.
    const formatted = diskMib === undefined || spec.diskImage !== undefined ? undefined : this.#images?.take(diskMib);
    try {
      if (entry !== undefined) {
        const ctx = { sandboxesDir: this.#dir, host, cgroups: this.#cgroups, pool: this.#pool!, log: this.#log };
        const record = await startPooled(ctx, spec, entry, formatted).catch((err: unknown) => {
          throw asDriverError(err, `creating sandbox ${spec.id} failed`);
        });
        if (record !== undefined) {
          this.#track(spec.id, entry.launched.child);
          this.#log.debug({ sandbox: spec.id, uid: record.hostUid, cgroup: record.cgroup }, 'sandbox started (pooled)');
          return this.#info(record, 'running');
        }
      }
      return await this.#createDirect(host, spec, formatted);
    } finally {
      // A used image was moved into the sandbox; one left unused (a failure before the disk was made) goes.
      if (formatted !== undefined) await rm(formatted, { force: true }).catch(() => undefined);
      this.#pool?.fill();
      this.#images?.fill();
    }
  }

  /**
   * The critical path is kept short because create → runner-ready is benchmarked against a bare bwrap: the
   * launcher is spawned as soon as its log fd and argv are known, while the cgroup (mkdir + limits), the workspace
   * and home, and the runDir grant are prepared concurrently; all of them finish before the gate opens. Moving the
   * launcher into the cgroup costs one RCU grace period in the kernel (~5 ms), overlapped with the record write.
   */
  async #createDirect(host: Host, spec: SandboxSpec, formatted?: string, member?: MemberPlan): Promise<SandboxInfo> {
    const uid = this.#uids.allocate();
    // A member's workspace and home are in its group's tree (on the group's disk, when it has one).
    const own = sandboxPaths(this.#dir, spec.id, member === undefined && spec.resources.diskMib !== undefined);
    const paths = member === undefined ? own : { ...own, ...memberDirs(member, spec.id) };
    // A member's cgroup is a child of its group's, which carries the limits.
    const cgroup = member?.cgroup ?? spec.id;
    const made = { dir: false, cgroup: false };
    let launched: Launched | undefined;
    let pending: Promise<unknown> = Promise.resolve();
    let logFile: Promise<FileHandle> | undefined;
    try {
      const [installDir, runDir] = await Promise.all([
        resolveSpecDir(spec.installDir, 'installDir', this.#dir, spec.installPaths),
        resolveSpecDir(spec.runDir, 'runDir', this.#dir),
        createSandboxDir(paths).then(() => (made.dir = true)),
      ]);
      const readOnly = await stageReadOnlyFiles(paths.dir, spec.readOnlyFiles, uid);
      logFile = open(paths.logFile, 'a', 0o600);
      const direct = Promise.all([installDir, runDir].map((d) => traversable(d, uid, uid)));
      const prepared = Promise.all([
        this.#cgroups.create(cgroup, member ? {} : spec.resources).then(() => (made.cgroup = true)),
        makeOwnedDirs(paths, uid, uid, member ? undefined : diskOf(spec, formatted)).then(() =>
          member ? makeOutbox(member, uid) : undefined,
        ),
        grantRunDir(runDir, uid),
      ]);
      // Every task settles before a rollback, so nothing is still being created while it is being removed.
      pending = Promise.allSettled([logFile, direct, prepared]);
      const staged = !((await direct).every(Boolean) && host.baseTraversable);
      const sources: SandboxSources = {
        install: installDir,
        installPaths: spec.installPaths,
        run: runDir,
        workspace: paths.workspace,
        home: paths.home,
        passwd: member?.paths.passwd ?? host.passwd,
        group: member?.paths.group ?? host.group,
        extra: [...(host.node === undefined ? [] : [{ source: host.node, dest: host.node }]), ...readOnly],
        shared: member && { area: member.paths.area },
      };
      launched = await launchDirect({
        host,
        spec,
        sources,
        staged,
        uid,
        logFile: await logFile,
        sandboxesDir: this.#dir,
        disableNestedUserns: this.#opts.disableNestedUserns ?? true,
        insideUid: member && SANDBOX_UID + member.index,
      });
      await prepared;
      const record: SandboxRecord = {
        version: 1,
        id: spec.id,
        driver: 'bwrap',
        hostUid: uid,
        hostGid: uid,
        pid: launched.pid,
        cgroup,
        workspaceDir: paths.workspace,
        homeDir: paths.home,
        logFile: paths.logFile,
        runDir,
        installDir,
        staged,
        command: [...spec.command],
        resources: { ...spec.resources },
        ...(member && { shared: { group: member.group, index: member.index } }),
        createdAt: new Date().toISOString(),
      };
      // The record is on disk before the gate opens: if berthd dies now, the launcher reads EOF and exits, and
      // list() shows an exited sandbox to clean up. Nothing can run unrecorded or outside the cgroup.
      await Promise.all([this.#cgroups.open(cgroup).addProcess(launched.pid), writeRecord(paths.dir, record)]);
      await releaseHandedOver(spec);
      launched.release(`go\n${envPayload(spec.env)}`); // the gate line, then bwrap's --args
      this.#track(spec.id, launched.child);
      this.#log.debug({ sandbox: spec.id, uid, pid: launched.pid, staged }, 'sandbox started');
      return this.#info(record, 'running');
    } catch (err) {
      await pending;
      await closeQuietly(logFile);
      await this.#rollback(spec.id, paths, made, launched, uid, cgroup);
      if (member) await removeMember(this.#dir, member.group, { ...paths, index: member.index }).catch(() => undefined);
      throw asDriverError(err, `creating sandbox ${spec.id} failed`);
    }
  }

  #track(id: string, child: ChildProcess): void {
    this.#children.set(id, child);
    child.once('exit', (code, signal) => {
      this.#log.info({ sandbox: id, code, signal }, 'sandbox command exited');
    });
  }

  async #rollback(
    id: string,
    paths: SandboxPaths,
    made: { dir: boolean; cgroup: boolean },
    launched: Launched | undefined,
    uid: number,
    cgroup = id,
  ): Promise<void> {
    // Best effort, so the caller sees the original error; whatever is left shows up in list() or the next check.
    const warn = (what: string) => (err: unknown) =>
      this.#log.error({ sandbox: id, err: (err as Error).message }, `rollback: ${what} failed`);
    // A launcher still at its gate has not been reaped, so its pid cannot have been recycled.
    launched?.child.kill('SIGKILL');
    const group = this.#cgroups.open(cgroup);
    if (made.cgroup) await group.killAll(this.#killTimeout).then(() => group.remove(), warn('removing the cgroup'));
    if (made.dir) await removeSandboxDirs(paths, false).catch(warn('removing the sandbox directory'));
    this.#uids.release(uid);
  }

  async destroy(id: string, opts: DestroyOptions = {}): Promise<void> {
    if (!isId('sandbox', id)) return; // nothing of ours can carry that name
    if (opts.detachDiskTo !== undefined && (opts.keepWorkspace === true || !isAbsolute(opts.detachDiskTo)))
      throw new SandboxDriverError('invalid_spec', 'detachDiskTo must be an absolute path, and not with keepWorkspace');
    await this.#withLock(id, async () => {
      const paths = sandboxPaths(this.#dir, id);
      const record = await readRecord(paths.dir).catch(() => undefined);
      const group = this.#cgroups.open(record?.cgroup ?? id);
      const t0 = performance.now();
      const ms: Record<string, number> = {};
      const mark = (k: string) => (ms[k] = Math.round(performance.now() - t0));
      try {
        // By cgroup membership only: this reaches processes that double-forked, setsid()ed or re-parented.
        await group.killAll(this.#killTimeout);
        mark('killedMs');
        // Our own launcher is a child of this process: wait until Node has reaped it, so no zombie remains.
        const child = this.#children.get(id);
        if (child && child.exitCode === null && child.signalCode === null)
          await Promise.race([once(child, 'exit'), sleep(this.#killTimeout)]);
        await group.remove();
        mark('cgroupMs');
        // The disk goes only once no process can hold it; a kept workspace stays mounted where it was.
        const keep = opts.keepWorkspace === true;
        if (opts.detachDiskTo !== undefined) await detachWorkspaceDisk(diskPaths(paths), opts.detachDiskTo);
        else if (!keep) await removeWorkspaceDisk(diskPaths(paths));
        mark('diskMs');
        const unmounted = await unmountUnder(paths.dir, keep ? [diskPaths(paths).mountPoint] : []);
        if (unmounted.length > 0) this.#log.warn({ sandbox: id, unmounted }, 'removed host mounts under a sandbox dir');
        await removeSandboxDirs(paths, keep);
        mark('ms');
        this.#log.debug({ sandbox: id, ...ms, handedOver: opts.detachDiskTo !== undefined }, 'sandbox destroyed');
      } catch (err) {
        throw asDriverError(err, `destroying sandbox ${id} failed`);
      }
      if (record) this.#uids.release(record.hostUid);
      this.#children.delete(id);
      if (record?.shared !== undefined) await this.#leaveGroup(record.shared.group, record, record.shared.index);
    });
  }

  /** A member is gone: its workspace leaves the group, and the group goes with its last member. */
  async #leaveGroup(group: string, member: { workspaceDir: string; homeDir: string }, index: number): Promise<void> {
    await this.#withLock(group, async () => {
      try {
        await removeMember(this.#dir, group, { workspace: member.workspaceDir, home: member.homeDir, index });
        if (await removeGroupIfEmpty(this.#dir, this.#cgroups, group, this.#killTimeout))
          this.#log.debug({ group }, 'shared sandbox removed with its last member');
      } catch (err) {
        throw asDriverError(err, `removing shared sandbox ${group} failed`);
      }
    });
  }

  async inspect(id: string): Promise<SandboxInfo | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    return record && this.#info(record, await this.#status(record));
  }

  async list(): Promise<SandboxInfo[]> {
    const names = await readdir(this.#dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const records = await Promise.all(
      names.filter((n) => isId('sandbox', n)).map((n) => readRecord(join(this.#dir, n)).catch(() => undefined)),
    );
    const found = records.filter((r): r is SandboxRecord => r !== undefined).sort((a, b) => (a.id < b.id ? -1 : 1));
    const recorded = new Set(found.map((r) => r.cgroup));
    // Pool groups whose berthd died (its launchers exit at EOF) would otherwise accumulate under the cgroup parent.
    await sweepPoolGroups(this.#cgroups, (n) => recorded.has(n) || this.#pool?.owns(n) === true, this.#log).catch(
      (err: unknown) => this.#log.warn({ err: (err as Error).message }, 'sweeping launcher-pool cgroups failed'),
    );
    return Promise.all(found.map(async (r) => this.#info(r, await this.#status(r))));
  }

  async stats(id: string): Promise<SandboxStats | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    return record && this.#cgroups.open(record.cgroup).stats();
  }

  /** How many processes of the sandbox the kernel OOM-killed; undefined when the sandbox is unknown. */
  async oomKills(id: string): Promise<number | undefined> {
    if (!isId('sandbox', id)) return undefined;
    const record = await readRecord(join(this.#dir, id));
    return record && this.#cgroups.open(record.cgroup).oomKills();
  }

  /** The observed view of a record, with the host path of its disk image when it has one. */
  #info(r: SandboxRecord, status: SandboxStatus): SandboxInfo {
    const info = infoOf(r, status);
    // A shared sandbox's member has no disk of its own (the group's bounds all members).
    if (r.resources.diskMib === undefined || r.shared !== undefined) return info;
    return { ...info, diskImage: diskPaths(sandboxPaths(this.#dir, r.id)).image };
  }

  async #status(r: SandboxRecord): Promise<SandboxStatus> {
    return (await this.#cgroups.open(r.cgroup).pids()).length > 0 ? 'running' : 'exited';
  }

  /** Discovers the host once (retried after a failure) and re-reserves the uids of sandboxes already on disk. */
  #init(): Promise<Host> {
    if (this.#host === undefined) {
      this.#host = this.#discover();
      this.#host.catch(() => (this.#host = undefined));
    }
    return this.#host;
  }

  async #discover(): Promise<Host> {
    const host = await discoverHost({
      sandboxesDir: this.#dir,
      bwrapPath: this.#opts.bwrapPath ?? 'bwrap',
      setprivPath: this.#opts.setprivPath ?? 'setpriv',
      nodePath: this.#opts.nodePath ?? process.execPath,
      probeUid: this.#uids.range.start,
    });
    // Re-adoption after a restart: uids of sandboxes already on disk are not handed out again.
    for (const s of await this.list()) this.#uids.reserve(s.hostUid);
    await sweepUnrecordedDisks(this.#dir, this.#log);
    await sweepSharedGroups(this.#dir, this.#cgroups, this.#killTimeout, this.#log);
    await this.#images?.clear(); // images formatted ahead by an earlier berthd
    if (!host.baseTraversable)
      this.#log.info({ sandboxesDir: this.#dir }, 'sandbox paths are not traversable by sandbox uids: staging mounts');
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

/** Directory (inside sandboxesDir, not a sandbox id) of the workspace disk images formatted ahead. */
const DISK_POOL_DIR = '.disk-pool';

/** The host's cgroups; when there are none, a stand-in whose check() says so (create() then fails with the reason). */
function defaultCgroups(): CgroupManager {
  try {
    return createCgroupManagerSync();
  } catch (err) {
    return new UnavailableCgroupManager((err as Error).message);
  }
}
