import { access, chmod, chown, link, lstat, open, rename } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxDriverError } from '../errors.js';
import { loopDevicesOf, mountsAt, runTool } from './host.js';
import { DISK_MIB_MAX, DISK_MIB_MIN, removeWorkspaceDisk, type WorkspaceDiskPaths } from './quota.js';

/** The directories a handed-over disk must hold at its root (what the bwrap and gVisor drivers put there). */
const TREES = ['workspace', 'home'] as const;
/** How long a detach waits for the kernel to release the loop device after the unmount. */
const LOOP_RELEASE_MS = 2000;

const invalid = (msg: string): SandboxDriverError => new SandboxDriverError('invalid_spec', msg);

/**
 * Unmounts a sandbox's workspace disk cleanly and moves its image to `to` (same filesystem; a rename, so O(1)
 * whatever the workspace holds), for a later sandbox to take over with {@link attachWorkspaceDisk}. Every process
 * that could hold the disk must be gone. Unlike {@link removeWorkspaceDisk} nothing is unmounted lazily: the image
 * is moved only once its filesystem is fully written back and no loop device uses it, so it can be mounted again
 * without two live filesystems on one file. Repeatable after a crash half-way (an image already at `to` is done).
 */
export async function detachWorkspaceDisk(p: WorkspaceDiskPaths, to: string): Promise<void> {
  if (!isAbsolute(to)) throw invalid('the detached disk image path must be absolute');
  for (let n = await mountsAt(p.mountPoint); n > 0; n--) {
    await runTool('umount', [p.mountPoint]).catch((err: unknown) => {
      throw new SandboxDriverError(
        'host_unavailable',
        `the workspace disk ${p.mountPoint} is still in use and cannot be handed over: ${(err as Error).message}`,
        { cause: err },
      );
    });
  }
  // Loop mounts are made with autoclear: the device goes with the unmount, but the kernel may finish that a moment
  // later. A device left attached with nothing mounted (a crash between attach and mount) is detached here.
  const deadline = Date.now() + LOOP_RELEASE_MS;
  for (let devs = await loopDevicesOf(p.image); devs.length > 0; devs = await loopDevicesOf(p.image)) {
    if (Date.now() > deadline) {
      for (const dev of devs) await runTool('losetup', ['-d', dev]).catch(() => undefined);
      if ((await loopDevicesOf(p.image)).length > 0)
        throw new SandboxDriverError('host_unavailable', `loop devices ${devs.join(', ')} still use ${p.image}`);
      break;
    }
    await sleep(5);
  }
  try {
    await rename(p.image, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && (await exists(to))) return; // moved before a crash
    if (code === 'EXDEV')
      throw invalid(`${to} is not on the filesystem of ${p.image}: a disk is handed over by rename`);
    throw err;
  }
}

/** Options of {@link attachWorkspaceDisk}: where the disk goes and whose its trees become. */
export interface AttachDiskOptions extends WorkspaceDiskPaths {
  uid: number;
  gid: number;
}

/**
 * Mounts a disk image an earlier sandbox left ({@link detachWorkspaceDisk}) as a new sandbox's workspace disk, at
 * `image` (a hard link to `from`, which is left in place: the caller removes it once the new sandbox is recorded,
 * so a crash in between never loses the only name of the image). Resolves with its size in MiB.
 *
 * Trust: the image's filesystem metadata was only ever written by this host's kernel. A sandbox writes files
 * through the mount, never the image's bytes (the image sits root-only outside everything it binds, and the blob
 * store is root-only too), so mounting it again is what keeping it mounted would have been. It is still checked
 * before the kernel sees it: a regular root-only file of a quota's size holding an ext4 superblock; one that was
 * not cleanly unmounted (a host crash) is repaired with e2fsck first. The workspace and home trees are then given
 * to the new sandbox's uid with `chown -R -P -h` (symlinks are changed, never followed), which runs before any
 * process of the new sandbox exists, so nothing can swap a path under it.
 */
export async function attachWorkspaceDisk(o: AttachDiskOptions, from: string): Promise<number> {
  if (!isAbsolute(o.image) || !isAbsolute(o.mountPoint) || !isAbsolute(from))
    throw invalid('workspace disk paths must be absolute');
  const sizeMib = await checkImage(from);
  await link(from, o.image);
  try {
    await runTool('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev', o.image, o.mountPoint]);
    for (const tree of TREES) {
      const st = await lstat(join(o.mountPoint, tree));
      if (!st.isDirectory()) throw invalid(`the disk image ${from} has no ${tree} directory at its root`);
    }
    const trees = TREES.map((t) => join(o.mountPoint, t));
    await runTool('chown', ['-R', '-P', '-h', `${o.uid}:${o.gid}`, '--', ...trees]);
    // The root stays root's, traversable (as a new disk's is, see makeOwnedDirs).
    await chown(o.mountPoint, 0, 0);
    await chmod(o.mountPoint, 0o711);
  } catch (err) {
    await removeWorkspaceDisk(o).catch(() => undefined); // our link only: `from` keeps the image
    throw err;
  }
  return sizeMib;
}

/** Checks a disk image before it is mounted (see attachWorkspaceDisk); resolves with its size in MiB. */
async function checkImage(path: string): Promise<number> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? invalid(`there is no disk image at ${path}`) : err;
  });
  const mib = st.size / 1048576;
  if (!st.isFile() || st.uid !== 0 || (st.mode & 0o077) !== 0)
    throw invalid(`${path} is not a workspace disk image (a regular file, root's, not readable by others)`);
  if (!Number.isInteger(mib) || mib < DISK_MIB_MIN || mib > DISK_MIB_MAX)
    throw invalid(`${path} is not a workspace disk image (size ${st.size} bytes)`);
  const sb = Buffer.alloc(64);
  const fh = await open(path, 'r');
  try {
    await fh.read(sb, 0, sb.length, 1024); // the ext4 superblock
  } finally {
    await fh.close();
  }
  if (sb.readUInt16LE(0x38) !== 0xef53) throw invalid(`${path} holds no ext4 filesystem`);
  // s_state bit 0: cleanly unmounted. Anything else (a host crash while mounted) is repaired before mounting.
  if ((sb.readUInt16LE(0x3a) & 0x3) !== 0x1) await repair(path);
  return mib;
}

async function repair(path: string): Promise<void> {
  await runTool('e2fsck', ['-f', '-y', path]).catch((err: unknown) => {
    // Exit status 1: errors were corrected, which is the point.
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    if (code !== 1) throw err;
  });
}

function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
