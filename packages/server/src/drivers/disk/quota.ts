import { chmod, chown, open, rm, rmdir, statfs } from 'node:fs/promises';
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
 */
export async function createWorkspaceDisk(o: WorkspaceDiskOptions): Promise<void> {
  if (!isAbsolute(o.image) || !isAbsolute(o.mountPoint)) throw invalid('workspace disk paths must be absolute');
  if (!Number.isInteger(o.sizeMib) || o.sizeMib < DISK_MIB_MIN || o.sizeMib > DISK_MIB_MAX)
    throw invalid(`diskMib must be an integer from ${DISK_MIB_MIN} to ${DISK_MIB_MAX}, got ${o.sizeMib}`);
  const bytes = o.sizeMib * 1024 * 1024;
  await checkFreeSpace(dirname(o.image), bytes, o.sizeMib);
  const fh = await open(o.image, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
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
      `root_owner=${o.uid}:${o.gid}`,
      o.image,
    ]);
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
