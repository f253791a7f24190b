import { chmod, chown, link, open, rm, rmdir, statfs, unlink } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { SandboxDriverError } from '../errors.js';
import { loopDevicesOf, mountsAt, runTool } from './host.js';

/** Smallest quota: below this, ext4's own metadata would take a large share of it. */
export const DISK_MIB_MIN = 64;
/** Largest quota (1 TiB). Images are sparse, so this bounds what one sandbox can take from the host. */
export const DISK_MIB_MAX = 1_048_576;

/** Where a workspace disk lives on the host: the image file and the directory it is mounted on. */
export interface WorkspaceDiskPaths {
  /** The image file; absolute; must not exist yet when creating. */
  image: string;
  /** An existing, empty directory; absolute. The filesystem's root replaces it (owner and mode included). */
  mountPoint: string;
}

export interface WorkspaceDiskOptions extends WorkspaceDiskPaths {
  /** Size of the filesystem in MiB (DISK_MIB_MIN..DISK_MIB_MAX). */
  sizeMib: number;
  /** Host uid and gid that own the filesystem's root. */
  uid: number;
  gid: number;
  /** Mode of the filesystem's root. Default 0700. */
  mode?: number;
}

/** What removeWorkspaceDisk() found and removed. */
export interface RemovedDisk {
  unmounted: number;
  /** Loop devices still attached to the image after the unmount, now detached. */
  detached: string[];
}

const invalid = (msg: string): SandboxDriverError => new SandboxDriverError('invalid_spec', msg);

/**
 * Makes a workspace with a real size limit: a sparse image file of `sizeMib`, formatted ext4 and loop-mounted
 * (nosuid, nodev) on `mountPoint`. Writing past it fails with ENOSPC inside the workspace only. The format is
 * chosen for a fast create and for the agent to get the whole size: no journal (a workspace does not outlive a host
 * crash), no blocks reserved for root, no reserved resize blocks, and inode tables marked zeroed (a fresh sparse
 * file reads as zeros), so the kernel has no lazy-init work to do after the mount. `lost+found` is removed: the
 * sandbox uid could not read it and tools that walk the workspace would report it. On failure nothing is left.
 * `formatted` is an image made ahead by `formatImage` with the same size; it is moved into place (and gone after).
 */
export async function createWorkspaceDisk(o: WorkspaceDiskOptions, formatted?: string): Promise<void> {
  if (!isAbsolute(o.image) || !isAbsolute(o.mountPoint)) throw invalid('workspace disk paths must be absolute');
  checkSize(o.sizeMib);
  await checkFreeSpace(dirname(o.image), o.sizeMib * 1024 * 1024, o.sizeMib);
  if (!(formatted !== undefined && (await moveInto(formatted, o.image)))) await formatImage(o.image, o.sizeMib);
  try {
    await runTool('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev', o.image, o.mountPoint]);
    await rmdir(`${o.mountPoint}/lost+found`);
    await chown(o.mountPoint, o.uid, o.gid);
    await chmod(o.mountPoint, o.mode ?? 0o700);
  } catch (err) {
    await removeWorkspaceDisk(o).catch(() => undefined);
    throw err;
  }
}

/**
 * Moves an image made ahead into place; false when it cannot be used (gone, another filesystem), so the caller
 * formats one instead. link + unlink rather than rename: an existing image is never replaced (EEXIST is thrown).
 */
async function moveInto(formatted: string, image: string): Promise<boolean> {
  try {
    await link(formatted, image);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw err;
    return false;
  }
  await unlink(formatted).catch(() => undefined); // else its owner deletes it
  return true;
}

function checkSize(sizeMib: number): void {
  if (!Number.isInteger(sizeMib) || sizeMib < DISK_MIB_MIN || sizeMib > DISK_MIB_MAX)
    throw invalid(`diskMib must be an integer from ${DISK_MIB_MIN} to ${DISK_MIB_MAX}, got ${sizeMib}`);
}

/**
 * Creates `image` (which must not exist) as a sparse file of `sizeMib` and formats it (see createWorkspaceDisk).
 * The filesystem's root is root's: the owner is set at mount time, so an image made ahead (`FormattedImagePool`)
 * serves any sandbox. On failure the image is removed.
 */
export async function formatImage(image: string, sizeMib: number): Promise<void> {
  if (!isAbsolute(image)) throw invalid('workspace disk paths must be absolute');
  checkSize(sizeMib);
  const fh = await open(image, 'wx', 0o600);
  try {
    await fh.truncate(sizeMib * 1024 * 1024);
  } finally {
    await fh.close();
  }
  try {
    await runTool('mkfs.ext4', [
      '-q',
      '-F',
      '-b',
      '4096',
      '-m',
      '0',
      '-O',
      '^has_journal,^resize_inode',
      '-E',
      'root_owner=0:0',
      image,
    ]);
  } catch (err) {
    await rm(image, { force: true });
    throw err;
  }
}

/**
 * A sparse image only takes host space as it fills, so the sum of quotas may exceed the host's free space; an image
 * larger than all of that free space, though, could never be honoured and is refused.
 */
async function checkFreeSpace(dir: string, bytes: number, sizeMib: number): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (free < bytes)
    throw new SandboxDriverError(
      'host_unavailable',
      `a ${sizeMib} MiB workspace disk does not fit in the ${Math.floor(free / 1048576)} MiB free on ${dir}; ` +
        'ask for a smaller disk_mib or free space on the host',
    );
}

/**
 * Unmounts whatever is mounted on `mountPoint`, detaches every loop device still backed by `image` and deletes the
 * image. Idempotent, and it needs nothing but the two paths, so it also cleans up after a berthd that crashed half
 * way. A mount that is still busy (an open file in berthd's own namespace) is detached lazily; its loop device
 * then goes when the last user does (loop mounts are made with autoclear).
 */
export async function removeWorkspaceDisk(p: WorkspaceDiskPaths): Promise<RemovedDisk> {
  let unmounted = 0;
  for (let n = await mountsAt(p.mountPoint); n > 0; n--) {
    await runTool('umount', [p.mountPoint]).catch(() => runTool('umount', ['-l', p.mountPoint]));
    unmounted++;
  }
  const detached = await loopDevicesOf(p.image);
  for (const dev of detached) await runTool('losetup', ['-d', dev]).catch(() => undefined);
  await rm(p.image, { force: true });
  return { unmounted, detached };
}
