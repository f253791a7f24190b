import { access, chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isId, SANDBOX_PATHS, SANDBOX_UID } from '@berth/protocol';
import type { CgroupManager } from '../cgroups/index.js';
import { createWorkspaceDisk, removeWorkspaceDisk, type WorkspaceDiskPaths } from '../disk/index.js';
import { SHARED_MAX_MEMBERS, type SandboxResources } from '../driver.js';
import { SandboxDriverError } from '../errors.js';
import type { DriverLogger } from '../logger.js';
import { readRecord } from './record.js';

/**
 * The host side of a shared sandbox (docs/adr/0019-shared-sandboxes.md): `<sandboxesDir>/<shr_id>/` holds
 * `shared/` (root, 0755, mounted at /shared) with one outbox per member, `shared/agent<index>/` (owned by the
 * member's host uid, 0755: only it writes there, every member reads), `members/<sbx_id>/` (each member's workspace)
 * and `homes/<sbx_id>/` (its home and CLAUDE_CONFIG_DIR), both owned by the member, 0700, and the passwd/group
 * naming the members' inside uids. Per-member outboxes rather than a sticky world-writable directory: nobody can
 * pre-create (squat) a name another member will write, or plant a symlink or FIFO there, whatever the host's
 * fs.protected_* sysctls say. With a disk quota, `shared`, `members` and `homes`
 * sit on the group's one loop-mounted disk (`disk.img` on `disk/`), which then bounds all members together, as the
 * group's cgroup bounds their memory, CPU and tasks. Each member is an ordinary bwrap sandbox otherwise (its own
 * directory with record and runner.log, runDir, host uid and pid namespace), whose cgroup is a child of the group's.
 */
export interface SharedPaths {
  dir: string;
  disk: WorkspaceDiskPaths;
  area: string;
  members: string;
  homes: string;
  passwd: string;
  group: string;
}

export function sharedPaths(sandboxesDir: string, group: string, withDisk: boolean): SharedPaths {
  const dir = join(sandboxesDir, group);
  const disk = { image: join(dir, 'disk.img'), mountPoint: join(dir, 'disk') };
  const data = withDisk ? disk.mountPoint : dir;
  return {
    dir,
    disk,
    area: join(data, 'shared'),
    members: join(data, 'members'),
    homes: join(data, 'homes'),
    passwd: join(dir, 'passwd'),
    group: join(dir, 'group'),
  };
}

/** The paths of an existing group (or of none): with a disk when it has an image. */
async function layoutOf(sandboxesDir: string, group: string): Promise<SharedPaths> {
  const image = sharedPaths(sandboxesDir, group, false).disk.image;
  const withDisk = await access(image).then(
    () => true,
    () => false,
  );
  return sharedPaths(sandboxesDir, group, withDisk);
}

/** What a member's create needs beyond an ordinary sandbox's. */
export interface MemberPlan {
  group: string;
  /** 1…SHARED_MAX_MEMBERS; the uid inside is SANDBOX_UID + index. */
  index: number;
  paths: SharedPaths;
  /** The member's cgroup: a child of the group's. */
  cgroup: string;
}

/** The member's workspace and home on the host, inside the group tree (so that a group disk bounds them). */
export function memberDirs(plan: MemberPlan, id: string): { workspace: string; home: string } {
  return { workspace: join(plan.paths.members, id), home: join(plan.paths.homes, id) };
}

/** The user name of a member inside (its passwd entry), which also names its outbox in /shared. */
export function memberName(index: number): string {
  return `agent${index}`;
}

/** A member's outbox on the host. */
export function outboxOf(paths: SharedPaths, index: number): string {
  return join(paths.area, memberName(index));
}

/** Creates the member's outbox, owned by its host uid, 0755. */
export async function makeOutbox(plan: MemberPlan, uid: number): Promise<void> {
  const dir = outboxOf(plan.paths, plan.index);
  await mkdir(dir, { mode: 0o755 });
  await chown(dir, uid, uid);
  await chmod(dir, 0o755);
}

/** Removes what a member had in its group (workspace, home, outbox); the group's lock is held. */
export async function removeMember(
  sandboxesDir: string,
  group: string,
  m: { workspace: string; home: string; index: number },
): Promise<void> {
  const paths = await layoutOf(sandboxesDir, group);
  await Promise.all(
    [m.workspace, m.home, outboxOf(paths, m.index)].map((d) => rm(d, { recursive: true, force: true })),
  );
}

/** passwd and group for every index a member can have: all share one home path (each member binds its own). */
function identity(): { passwd: string; group: string } {
  const n = Array.from({ length: SHARED_MAX_MEMBERS }, (_, i) => i + 1);
  const passwd = n.map(
    (i) => `${memberName(i)}:x:${SANDBOX_UID + i}:${SANDBOX_UID + i}:Berth agent ${i}:${SANDBOX_PATHS.home}:/bin/sh`,
  );
  const group = n.map((i) => `${memberName(i)}:x:${SANDBOX_UID + i}:`);
  return {
    passwd: [
      'root:x:0:0:root:/root:/usr/sbin/nologin',
      ...passwd,
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      '',
    ].join('\n'),
    group: ['root:x:0:', ...group, 'nogroup:x:65534:', ''].join('\n'),
  };
}

/**
 * Plans a new member of `group`, creating the group first when it does not exist (directories, identity files, and
 * its cgroup with `resources`, which then hold for every member). The caller holds the group's lock, so indexes and
 * the group's existence cannot change meanwhile.
 */
export async function planMember(
  sandboxesDir: string,
  cgroups: CgroupManager,
  group: string,
  id: string,
  resources: SandboxResources,
): Promise<MemberPlan> {
  const fresh = await mkdir(join(sandboxesDir, group), { mode: 0o711 }).then(
    () => true,
    (err: NodeJS.ErrnoException) => (ignoreExists(err), false),
  );
  const sizeMib = resources.diskMib;
  const paths = fresh ? sharedPaths(sandboxesDir, group, sizeMib !== undefined) : await layoutOf(sandboxesDir, group);
  await chmod(paths.dir, 0o711);
  if (fresh && sizeMib !== undefined) {
    await mkdir(paths.disk.mountPoint, { mode: 0o711 });
    await createWorkspaceDisk({ ...paths.disk, sizeMib, uid: 0, gid: 0, mode: 0o711 });
  }
  await mkdir(paths.area, { mode: 0o755 }).catch(ignoreExists);
  await chmod(paths.area, 0o755);
  for (const d of [paths.members, paths.homes]) {
    await mkdir(d, { mode: 0o711 }).catch(ignoreExists);
    await chmod(d, 0o711); // mkdir's mode is filtered by the umask
  }
  // Written once per group: running members have these files bound, and a rewrite in place would show them a
  // truncated passwd for a moment.
  const ids = identity();
  await Promise.all([
    writeFile(paths.passwd, ids.passwd, { mode: 0o644, flag: 'wx' }).catch(ignoreExists),
    writeFile(paths.group, ids.group, { mode: 0o644, flag: 'wx' }).catch(ignoreExists),
  ]);
  const cg = cgroups.open(group);
  if (!(await cg.exists())) await cgroups.create(group, resources);
  const used = await memberIndexes(sandboxesDir, paths);
  let index = 1;
  while (used.has(index)) index++;
  if (index > SHARED_MAX_MEMBERS)
    throw new SandboxDriverError(
      'conflict',
      `shared sandbox ${group} already has ${SHARED_MAX_MEMBERS} members; place the new sandbox in another group`,
    );
  // An outbox left by a member whose destroy never finished must not pass to the new owner of its index.
  await rm(outboxOf(paths, index), { recursive: true, force: true });
  return { group, index, paths, cgroup: `${group}/${id}` };
}

function ignoreExists(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err;
}

/** The indexes of the group's recorded members. */
async function memberIndexes(sandboxesDir: string, paths: SharedPaths): Promise<Set<number>> {
  const used = new Set<number>();
  for (const id of await memberIds(paths)) {
    const r = await readRecord(join(sandboxesDir, id)).catch(() => undefined);
    if (r?.shared !== undefined) used.add(r.shared.index);
  }
  return used;
}

async function memberIds(paths: SharedPaths): Promise<string[]> {
  const names = await readdir(paths.members).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => isId('sandbox', n));
}

/**
 * Removes the group when no member workspace is left in it: its cgroup (killing whatever is left, member groups
 * included) and its directory tree, shared files too. Called with the group's lock held, after a member's destroy.
 * Returns true when the group is gone.
 */
export async function removeGroupIfEmpty(
  sandboxesDir: string,
  cgroups: CgroupManager,
  group: string,
  killTimeoutMs: number,
): Promise<boolean> {
  const paths = await layoutOf(sandboxesDir, group);
  if ((await memberIds(paths)).length > 0) return false;
  await removeGroupCgroup(cgroups, group, killTimeoutMs);
  // Unmounted first: rm would otherwise empty the mounted filesystem and then fail on its mount point.
  await removeWorkspaceDisk(paths.disk);
  await rm(paths.dir, { recursive: true, force: true });
  return true;
}

/** The member cgroups under a group's. */
async function childGroups(cgroups: CgroupManager, group: string): Promise<string[]> {
  const children = new Set<string>();
  for (const d of cgroups.open(group).dirs) {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) children.add(e.name);
  }
  return [...children];
}

/** Kills and removes a group's cgroup and any member cgroups still under it. Idempotent. */
export async function removeGroupCgroup(cgroups: CgroupManager, group: string, killTimeoutMs: number): Promise<void> {
  const top = cgroups.open(group);
  for (const c of await childGroups(cgroups, group)) {
    const child = cgroups.open(`${group}/${c}`);
    await child.killAll(killTimeoutMs);
    await child.remove();
  }
  await top.killAll(killTimeoutMs);
  await top.remove();
}

/**
 * Start-up sweep (before this driver creates anything): member workspaces whose sandbox has no record (a berthd that
 * died half-way through a create) and their cgroups go, then every group of this sandboxes dir left without
 * members, directory and cgroup. Recorded members are left to destroy(), which removes their group with the last of
 * them. A group cgroup with no directory here is removed only when no process is left in it: the cgroup parent may
 * be shared with another berthd (another data dir), whose live groups are not ours to touch.
 */
export async function sweepSharedGroups(
  sandboxesDir: string,
  cgroups: CgroupManager,
  killTimeoutMs: number,
  log: DriverLogger,
): Promise<string[]> {
  const dirs = (await readdir(sandboxesDir).catch(() => [] as string[])).filter((n) => isId('sharedSandbox', n));
  const groups = (await cgroups.groups()).filter((n) => isId('sharedSandbox', n));
  const removed: string[] = [];
  for (const group of groups.filter((g) => !dirs.includes(g))) {
    try {
      const members = (await childGroups(cgroups, group)).map((c) => cgroups.open(`${group}/${c}`));
      const pids = await Promise.all([cgroups.open(group), ...members].map((g) => g.pids()));
      if (pids.some((p) => p.length > 0)) continue;
      await removeGroupCgroup(cgroups, group, killTimeoutMs);
      removed.push(group);
    } catch (err) {
      log.warn({ group, err: (err as Error).message }, 'sweeping a shared sandbox cgroup failed');
    }
  }
  for (const group of dirs) {
    try {
      const paths = await layoutOf(sandboxesDir, group);
      for (const id of await memberIds(paths)) {
        if ((await readRecord(join(sandboxesDir, id)).catch(() => undefined)) !== undefined) continue;
        const child = cgroups.open(`${group}/${id}`);
        await child.killAll(killTimeoutMs);
        await child.remove();
        await rm(join(paths.members, id), { recursive: true, force: true });
        await rm(join(paths.homes, id), { recursive: true, force: true });
        // Its outbox is not known without the record: a new member taking that index clears it (planMember).
      }
      if (await removeGroupIfEmpty(sandboxesDir, cgroups, group, killTimeoutMs)) removed.push(group);
    } catch (err) {
      log.warn({ group, err: (err as Error).message }, 'sweeping a shared sandbox failed');
    }
  }
  if (removed.length > 0) log.info({ groups: removed }, 'removed shared sandboxes without members');
  return removed;
}
