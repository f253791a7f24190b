import { access, chmod, chown, link, lstat, open, rename } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxDriverError } from '../errors.js';
import { loopDevicesOf, mountsAt, runTool } from './host.js';
import { DISK_MIB_MAX, DISK_MIB_MIN, removeWorkspaceDisk, type WorkspaceDiskPaths } from './quota.js';

/** The directories a handed-over disk must hold at its root (what the bwrap and gVisor drivers put there). */
const TREES = ['workspace', 'home'] as const;
/**
 * How long a detach waits for the kernel to release the loop device after the unmount. It is released at once
 * unless another mount namespace still holds the filesystem: one being set up (a bwrap between its namespace copy
 * and its pivot, milliseconds) or a staged sandbox's root bwrap, whose namespace copies every host mount (see
 * bwrap/argv.ts `stageArgs`) for as long as that sandbox runs.
 */
const LOOP_RELEASE_MS = 200;

const invalid = (msg: string): SandboxDriverError => new SandboxDriverError('invalid_spec', msg);

/**
 * The disk could not be handed over because its filesystem is still live in another mount namespace: moving the
 * image then would leave two filesystems on one file. Nothing was moved; the disk is mounted where it was again
 * (the same live filesystem), so its files can be copied another way before an ordinary destroy.
 */
export class DiskHandoverRefused extends SandboxDriverError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'DiskHandoverRefused';
  }
}

/**
 * Unmounts a sandbox's workspace disk cleanly and moves its image to `to` (same filesystem; a rename, so O(1)
 * whatever the workspace holds), for a later sandbox to take over with {@link attachWorkspaceDisk}. Every process
 * of the sandbox must be gone. Unlike {@link removeWorkspaceDisk} nothing is unmounted lazily: the image is moved
 * only once its filesystem has been shut down (written back, marked clean) and no loop device uses it, so it can be
 * mounted again without two live filesystems on one file; when another namespace keeps it live, this rejects with
 * {@link DiskHandoverRefused} and the disk is mounted back. Repeatable after a crash half-way (an image already at
 * `to` is done).
 */
export async function detachWorkspaceDisk(p: WorkspaceDiskPaths, to: string): Promise<void> {
  if (!isAbsolute(to)) throw invalid('the detached disk image path must be absolute');
  for (let n = await mountsAt(p.mountPoint); n > 0; n--) {
    await runTool('umount', [p.mountPoint]).catch((err: unknown) => {
      throw new DiskHandoverRefused(
        `the workspace disk ${p.mountPoint} is still in use and cannot be handed over: ${(err as Error).message}`,
      );
    });
  }
  // Loop mounts are made with autoclear: the device goes with the filesystem, which may take the kernel a moment.
  const deadline = Date.now() + LOOP_RELEASE_MS;
  let devs = await loopDevicesOf(p.image);
  while (devs.length > 0 && Date.now() < deadline) {
    await sleep(5);
    devs = await loopDevicesOf(p.image);
  }
  if (devs.length > 0 && (await remountLive(p, devs))) {
    throw new DiskHandoverRefused(
      `the filesystem of ${p.image} is still live in another mount namespace (${devs.join(', ')})`,
    );
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

/**
 * Mounts the still-live filesystem on a loop device of `p.image` back at the mount point (the kernel hands out the
 * same superblock) and resolves true; checks afterwards that the device still belonged to the image, since it could
 * have been released and reused in between. Resolves false when every device was released meanwhile (the
 * filesystem is shut down: the image can be moved after all).
 */
async function remountLive(p: WorkspaceDiskPaths, devs: string[]): Promise<boolean> {
  for (const dev of devs) {
    const mounted = await runTool('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', dev, p.mountPoint]).then(
      () => true,
      () => false,
    );
    if (mounted && (await loopDevicesOf(p.image)).includes(dev)) return true;
    // Not ours any more: another disk's filesystem was mounted here for a moment; it goes again.
    if (mounted) await runTool('umount', [p.mountPoint]).catch(() => runTool('umount', ['-l', p.mountPoint]));
  }
  if ((await loopDevicesOf(p.image)).length === 0) return false;
  throw new SandboxDriverError('host_unavailable', `the workspace disk ${p.image} could not be mounted back`);
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
