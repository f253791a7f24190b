import { chmod, chown, lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  attachWorkspaceDisk,
  createWorkspaceDisk,
  removeWorkspaceDisk,
  type WorkspaceDiskPaths,
} from '../disk/index.js';
import { SandboxDriverError } from '../errors.js';
import { identityFiles } from './argv.js';
import { RECORD_FILE } from './record.js';
import type { DiskRequest } from './spec.js';

/**
 * The host side of one sandbox: `<sandboxesDir>/<id>/{workspace,home,runner.log,sandbox.json}`. With a disk quota,
 * workspace and home live on the sandbox's own filesystem instead, `disk.img` mounted on `disk/`:
 * `<id>/disk/{workspace,home}`, so the quota bounds everything the sandbox can write to the host's disk.
 */
export interface SandboxPaths {
  dir: string;
  workspace: string;
  home: string;
  logFile: string;
}

export function sandboxPaths(sandboxesDir: string, id: string, withDisk = false): SandboxPaths {
  const dir = join(sandboxesDir, id);
  const data = withDisk ? join(dir, DISK_DIR) : dir;
  return { dir, workspace: join(data, 'workspace'), home: join(data, 'home'), logFile: join(dir, 'runner.log') };
}

/** Mount point of a sandbox's disk, inside its directory. */
const DISK_DIR = 'disk';

/** A sandbox's disk (whether or not it has one: the paths are fixed, so cleanup needs no record). */
export function diskPaths(paths: SandboxPaths): WorkspaceDiskPaths {
  return { image: join(paths.dir, 'disk.img'), mountPoint: join(paths.dir, DISK_DIR) };
}

/**
 * Written into a sandbox directory whose workspace destroy() kept (its record is removed), so the start-up sweep
 * of half-created sandboxes (`sweepUnrecordedDisks`) leaves that workspace's disk mounted.
 */
export const KEPT_FILE = 'workspace.kept';

/** Name of the directory (inside sandboxesDir) holding the synthetic passwd and group every sandbox binds. */
export const IDENTITY_DIR = '.identity';

/**
 * Creates sandboxesDir (0711: sandbox uids may traverse it but not list it) and the identity files, rewriting them
 * only when their content changed. Returns their paths.
 */
export async function prepareBase(sandboxesDir: string): Promise<{ passwd: string; group: string }> {
  const dir = join(sandboxesDir, IDENTITY_DIR);
  await mkdir(sandboxesDir, { recursive: true, mode: 0o711 });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const files = identityFiles();
  const out = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
  await Promise.all(
    (['passwd', 'group'] as const).map(async (k) => {
      const current = await readFile(out[k], 'utf8').catch(() => undefined);
      if (current === files[k]) return;
      const tmp = `${out[k]}.tmp`;
      await writeFile(tmp, files[k], { mode: 0o644 });
      await chmod(tmp, 0o644);
      await rename(tmp, out[k]);
    }),
  );
  return out;
}

/** Creates the sandbox directory (root, 0711); fails with `conflict` when it exists (ids are never reused). */
export async function createSandboxDir(paths: SandboxPaths): Promise<void> {
  try {
    await mkdir(paths.dir, { mode: 0o711 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new SandboxDriverError(
        'conflict',
        `sandbox directory ${paths.dir} already exists: sandbox ids must be new`,
      );
    throw err;
  }
  // mkdir's mode is filtered by the umask, and sandbox uids must be able to traverse this directory.
  await chmod(paths.dir, 0o711);
}

/**
 * Creates workspace and home, owned by the sandbox's host uid, 0700: no other sandbox uid can read them. With
 * `disk`, they are made on a loop-mounted filesystem of that size (`../disk/`; `formatted`: an image made ahead)
 * whose root is root's, 0711 like the sandbox directory (`paths` must then come from `sandboxPaths(…, true)`).
 * With `disk.image` (a disk an earlier sandbox handed over) they are that disk's, given to `uid` instead.
 */
export async function makeOwnedDirs(paths: SandboxPaths, uid: number, gid: number, disk?: DiskRequest): Promise<void> {
  const owned = async (d: string): Promise<void> => {
    await mkdir(d, { mode: 0o700 });
    await chown(d, uid, gid);
  };
  if (disk !== undefined) {
    const at = diskPaths(paths);
    await mkdir(at.mountPoint, { mode: 0o711 });
    if (disk.image !== undefined) {
      const sizeMib = await attachWorkspaceDisk({ ...at, uid, gid }, disk.image);
      if (sizeMib !== disk.sizeMib)
        throw new SandboxDriverError('invalid_spec', `the disk image is ${sizeMib} MiB, not diskMib ${disk.sizeMib}`);
      return;
    }
    await createWorkspaceDisk({ ...at, sizeMib: disk.sizeMib, uid: 0, gid: 0, mode: 0o711 }, disk.formatted);
  }
  await Promise.all([owned(paths.workspace), owned(paths.home)]);
}

/**
 * Creates runner.log for a pooled launcher, which opens it itself (O_APPEND) as the sandbox uid: root:<gid> 0620,
 * so the sandbox's uid can append but not read it back or change its mode, and no other sandbox uid can open it.
 */
export async function createLogFile(path: string, gid: number): Promise<void> {
  const fh = await open(path, 'a', 0o620);
  try {
    await fh.chown(0, gid);
    await fh.chmod(0o620); // open()'s mode is filtered by the umask
  } finally {
    await fh.close();
  }
}

/**
 * Lets the sandbox (and only it) use the sockets in its runDir: the directory becomes root:<gid> 02750 (setgid, so
 * sockets berthd creates later get the sandbox's group too) and existing sockets root:<gid> 0660. A socket created
 * after create() must be made group-writable (chmod 0660) by its creator, since connect() needs write permission.
 */
export async function grantRunDir(runDir: string, gid: number): Promise<void> {
  await chown(runDir, 0, gid);
  await chmod(runDir, 0o2750);
  const entries = await readdir(runDir);
  await Promise.all(
    entries.map(async (name) => {
      const p = join(runDir, name);
      if (!(await lstat(p)).isSocket()) return;
      await chown(p, 0, gid);
      await chmod(p, 0o660);
    }),
  );
}

/**
 * Removes what destroy() removes: everything, or everything but the workspace (and its disk, which stays mounted
 * so the files are where they were). Idempotent; either layout (with or without a disk) is handled.
 */
export async function removeSandboxDirs(paths: SandboxPaths, keepWorkspace: boolean): Promise<void> {
  if (!keepWorkspace) {
    // Unmounted first: rm would otherwise empty the mounted filesystem and then fail on its mount point.
    await removeWorkspaceDisk(diskPaths(paths));
    await rm(paths.dir, { recursive: true, force: true });
    return;
  }
  await writeFile(join(paths.dir, KEPT_FILE), '', { mode: 0o600 });
  const homes = [
    sandboxPaths(dirname(paths.dir), basename(paths.dir), false),
    sandboxPaths(dirname(paths.dir), basename(paths.dir), true),
  ].map((p) => p.home);
  await Promise.all([
    ...homes.map((h) => rm(h, { recursive: true, force: true })),
    rm(paths.logFile, { force: true }),
    // The copies of read-only files (see ../readonly-files.ts) belong to the sandbox, not its workspace.
    rm(join(paths.dir, 'ro'), { recursive: true, force: true }),
  ]);
  // The record goes last: a crash half-way leaves a record, so a later destroy() still finds the sandbox.
  await rm(join(paths.dir, RECORD_FILE), { force: true });
}
