import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupManager } from '../cgroups/index.js';
import type { DriverLogger } from '../logger.js';
import { poolLauncherArgv } from './argv.js';
import type { Host } from './discover.js';
import { launch, type Launched } from './launcher.js';
import type { UidAllocator } from './uids.js';

/** Prefix of pool cgroup names. Sandbox ids (`sbx_…`) never start with it, so a sweep cannot hit a sandbox's group. */
export const POOL_CGROUP_PREFIX = 'pool-';
const POOL_NAME_RE = /^pool-[0-9a-f]{12}$/;

/** A launcher started ahead of time: its own uid, its own (limit-less) cgroup, and already inside that cgroup. */
export interface PoolEntry {
  uid: number;
  cgroup: string;
  launched: Launched;
}

/** What the pool needs from its driver. */
export interface LauncherPoolDeps {
  /** How many idle launchers to keep. */
  size: number;
  cgroups: CgroupManager;
  uids: UidAllocator;
  /** The driver's host facts (discovered once). */
  host: () => Promise<Host>;
  disableNestedUserns: boolean;
  killTimeoutMs: number;
  log: DriverLogger;
}

/** Whether pooled launchers can serve sandboxes on this host; a reason when not. */
export function poolUnusable(host: Host): string | undefined {
  if (host.bash === undefined) return 'bash is not installed (the pooled launcher script needs it)';
  if (!host.baseTraversable) return 'every sandbox is staged here, and staging needs a root launcher';
  return undefined;
}

/**
 * A few launchers started and moved into their cgroups in the background, so that create() does not wait for the
 * kernel's RCU grace period that moving a process into a cgroup costs. Each entry is a uid from the driver's
 * allocator (so it is unique among live sandboxes and other entries), a cgroup named `pool-<random>` with no
 * limits yet, and a generic launcher (`POOL_LAUNCH_SCRIPT`) blocked at its gate inside that cgroup. The driver
 * takes one, writes the sandbox's limits onto the group, records it, and opens the gate; the pool then refills.
 * Nothing is started before the first `fill()`.
 */
export class LauncherPool {
  readonly #deps: LauncherPoolDeps;
  readonly #idle: PoolEntry[] = [];
  readonly #starting = new Set<Promise<void>>();
  /** Groups this pool made and still answers for: idle, starting, or taken but not yet recorded by the driver. */
  readonly #names = new Set<string>();
  readonly #discarded = new WeakSet<PoolEntry>();
  /** Discards in progress (close waits for them). */
  readonly #discarding = new Set<Promise<void>>();
  #closed = false;
  #disabled = false;

  constructor(deps: LauncherPoolDeps) {
    this.#deps = deps;
  }

  /** An idle, live entry, now the caller's; undefined when none is ready. Synchronous, so never handed out twice. */
  take(): PoolEntry | undefined {
    for (let e = this.#idle.shift(); e !== undefined; e = this.#idle.shift()) {
      const { child } = e.launched;
      if (child.exitCode === null && child.signalCode === null) return e;
      void this.discard(e);
    }
    return undefined;
  }

  /** Returns an untouched entry (no limits written, gate closed) that the caller could not use. */
  giveBack(e: PoolEntry): void {
    if (this.#closed) void this.discard(e);
    else this.#idle.unshift(e);
  }

  /** The caller has recorded the entry's group in a sandbox.json: from now on the sandbox answers for it. */
  handedOver(e: PoolEntry): void {
    this.#names.delete(e.cgroup);
  }

  /** True for a group this pool still answers for (a sweep must leave it alone). */
  owns(cgroup: string): boolean {
    return this.#names.has(cgroup);
  }

  /** Idle entries, for tests and logs. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Starts launchers in the background until `size` are idle or starting. Never throws, never blocks. */
  fill(): void {
    if (this.#closed || this.#disabled) return;
    for (let n = this.#deps.size - this.#idle.length - this.#starting.size; n > 0; n--) {
      const job = this.#start().catch((err: unknown) => {
        // A later create() triggers the next attempt; until then creates take the direct path.
        this.#deps.log.warn({ err: (err as Error).message }, 'starting a pooled launcher failed');
      });
      this.#starting.add(job);
      void job.finally(() => this.#starting.delete(job));
    }
  }

  /** `fill()`, resolving once the launchers it started are ready (or failed). */
  async warm(): Promise<void> {
    this.fill();
    await Promise.all([...this.#starting]);
  }

  /**
   * Kills an entry's launcher (still at its gate, so nothing of a sandbox ever ran there), removes its group and
   * frees its uid. Also the rollback of a taken entry whose gate was never opened. Idempotent.
   */
  discard(e: PoolEntry): Promise<void> {
    if (this.#discarded.has(e)) return Promise.resolve();
    this.#discarded.add(e);
    const job = this.#discard(e);
    this.#discarding.add(job);
    void job.finally(() => this.#discarding.delete(job));
    return job;
  }

  async #discard(e: PoolEntry): Promise<void> {
    const i = this.#idle.indexOf(e);
    if (i >= 0) this.#idle.splice(i, 1);
    const { child } = e.launched;
    e.launched.abort();
    // Unreaped until its exit event, so the pid cannot have been recycled.
    child.kill('SIGKILL');
    const group = this.#deps.cgroups.open(e.cgroup);
    try {
      await group.killAll(this.#deps.killTimeoutMs);
      if (child.exitCode === null && child.signalCode === null)
        await Promise.race([once(child, 'exit'), sleep(this.#deps.killTimeoutMs)]);
      await group.remove();
    } catch (err) {
      // Left for the next sweep, which removes unrecorded pool groups once they are empty.
      this.#deps.log.warn({ cgroup: e.cgroup, err: (err as Error).message }, 'removing a pooled launcher failed');
    }
    this.#deps.uids.release(e.uid);
    this.#names.delete(e.cgroup);
  }

  /**
   * Stops refilling and discards every idle entry; resolves once every launcher the pool killed has exited, so none
   * outlives a berthd that exits right after (one that finished starting during the close included). Taken entries
   * are the driver's.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#starting]);
    await Promise.all([...this.#idle].map((e) => this.discard(e)));
    await Promise.all([...this.#discarding]);
  }

  async #start(): Promise<void> {
    const host = await this.#deps.host();
    const why = poolUnusable(host);
    if (why !== undefined) {
      this.#disabled = true;
      this.#deps.log.info({ reason: why }, 'launcher pool disabled: creates take the direct path');
      return;
    }
    const uid = this.#deps.uids.allocate();
    const name = `${POOL_CGROUP_PREFIX}${randomBytes(6).toString('hex')}`;
    this.#names.add(name);
    const [made, started] = await Promise.allSettled([this.#deps.cgroups.create(name, {}), this.#launch(host, uid)]);
    if (started.status === 'fulfilled') {
      const e: PoolEntry = { uid, cgroup: name, launched: started.value };
      try {
        if (made.status === 'rejected') throw made.reason;
        // The grace period this pool exists for: paid here, while nobody waits.
        await made.value.addProcess(e.launched.pid);
      } catch (err) {
        await this.discard(e);
        throw err;
      }
      this.#ready(e);
      return;
    }
    if (made.status === 'fulfilled') await made.value.remove().catch(() => undefined);
    this.#deps.uids.release(uid);
    this.#names.delete(name);
    throw started.reason;
  }

  #ready(e: PoolEntry): void {
    if (this.#closed) {
      void this.discard(e);
      return;
    }
    this.#idle.push(e);
    // Killed from outside while idle: clean up at once rather than at the next take().
    e.launched.child.once('exit', () => {
      if (this.#idle.includes(e)) void this.discard(e);
    });
  }

  async #launch(host: Host, uid: number): Promise<Launched> {
    let devNull: FileHandle | undefined;
    try {
      if (host.leakedFds.length > 0) devNull = await open('/dev/null', 'r');
      return await launch({
        shell: host.bash!,
        argv: poolLauncherArgv(host.bwrap, {
          layout: host.layout,
          disableNestedUserns: this.#deps.disableNestedUserns,
        }),
        uid,
        gid: uid,
        leakedFds: host.leakedFds,
        ...(devNull && { devNullFd: devNull.fd }),
      });
    } finally {
      await devNull?.close();
    }
  }
}

/**
 * Removes pool groups that nothing answers for: not recorded by a sandbox, not `keep`ing, and empty. A pool
 * launcher exits as soon as its berthd dies (EOF at its gate), so a crashed berthd's groups empty out by
 * themselves; a non-empty unrecorded one belongs to a live berthd sharing the cgroup parent and is left alone.
 */
export async function sweepPoolGroups(
  cgroups: CgroupManager,
  keep: (name: string) => boolean,
  log: DriverLogger,
): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await cgroups.groups()) {
    if (!POOL_NAME_RE.test(name) || keep(name)) continue;
    const group = cgroups.open(name);
    if ((await group.pids()).length > 0) continue;
    // EBUSY when a launcher was moved in meanwhile: then it is not an orphan.
    if (
      await group.remove().then(
        () => true,
        () => false,
      )
    )
      removed.push(name);
  }
  if (removed.length > 0) log.info({ cgroups: removed }, 'removed orphaned launcher-pool cgroups');
  return removed;
}
