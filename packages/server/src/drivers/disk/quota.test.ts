import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../conformance/host.js';
import { silentLogger } from '../logger.js';
import { runTool } from './host.js';
import {
  DISK_MIB_MAX,
  FormattedImagePool,
  createWorkspaceDisk,
  loopDevicesOf,
  mountsAt,
  removeWorkspaceDisk,
  workspaceDiskUnsupported,
  type WorkspaceDiskPaths,
} from './index.js';

const skip = workspaceDiskUnsupported();
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe.skipIf(skip !== undefined)(`workspace disks${skip ? ` (skipped: ${skip})` : ''}`, async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-disk-test-'));
  let n = 0;
  const made: WorkspaceDiskPaths[] = [];
  /** Fresh paths: an empty mount point and an image path beside it. */
  const fresh = async (): Promise<WorkspaceDiskPaths> => {
    const dir = join(root, `d${n++}`);
    await mkdir(join(dir, 'workspace'), { recursive: true });
    const p = { image: join(dir, 'workspace.img'), mountPoint: join(dir, 'workspace') };
    made.push(p);
    return p;
  };
  /** No mount, no loop device and no image left. */
  const gone = async (p: WorkspaceDiskPaths): Promise<void> => {
    expect(await mountsAt(p.mountPoint)).toBe(0);
    expect(await eventually(async () => (await loopDevicesOf(p.image)).length === 0)).toBe(true);
    expect(await exists(p.image)).toBe(false);
  };
  afterAll(async () => {
    for (const p of made) await removeWorkspaceDisk(p).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('mounts an owned, empty filesystem of the size asked, refuses writes past it, and removes it all', async () => {
    const p = await fresh();
    await createWorkspaceDisk({ ...p, sizeMib: 64, uid: 4242, gid: 4243 });
    expect(await mountsAt(p.mountPoint)).toBe(1);
    expect(await loopDevicesOf(p.image)).toHaveLength(1);
    const st = await stat(p.mountPoint);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([4242, 4243, 0o700]);
    expect(await readdir(p.mountPoint)).toEqual([]); // no lost+found
    const fs = await statfs(p.mountPoint);
    // ext4's inode tables and the kernel's small reserve take a few MiB of a 64 MiB disk; none is kept for root.
    expect(fs.blocks * fs.bsize).toBeLessThanOrEqual(64 * 1048576);
    expect(fs.bavail * fs.bsize).toBeGreaterThan(56 * 1048576);
    const hostBefore = await statfs(root);
    await expect(writeFile(join(p.mountPoint, 'big'), Buffer.alloc(80 * 1048576, 1))).rejects.toMatchObject({
      code: 'ENOSPC',
    });
    // The image never grows past its size, whatever is written into it.
    expect((await stat(p.image)).size).toBe(64 * 1048576);
    expect((await stat(p.image)).blocks * 512).toBeLessThanOrEqual(64 * 1048576);
    expect(hostBefore.bavail - (await statfs(root)).bavail).toBeLessThan((70 * 1048576) / hostBefore.bsize);
    expect(await removeWorkspaceDisk(p)).toEqual({ unmounted: 1, detached: [] });
    await gone(p);
    expect(await removeWorkspaceDisk(p)).toEqual({ unmounted: 0, detached: [] }); // twice is fine
  });

  it('cleans up what a crashed berthd left: a mount, or a loop device with no mount', async () => {
    const mounted = await fresh();
    await createWorkspaceDisk({ ...mounted, sizeMib: 64, uid: 4242, gid: 4242 });
    const attached = await fresh();
    await createWorkspaceDisk({ ...attached, sizeMib: 64, uid: 4242, gid: 4242 });
    // A loop device set up by hand and never mounted (as a crash between attach and mount would leave).
    await runTool('losetup', ['-f', attached.image]);
    expect(await loopDevicesOf(attached.image)).toHaveLength(2);
    await removeWorkspaceDisk(mounted);
    await gone(mounted);
    const r = await removeWorkspaceDisk(attached);
    expect(r.unmounted).toBe(1);
    expect(r.detached.length).toBeGreaterThanOrEqual(1);
    await gone(attached);
  });

  it('detaches a busy mount lazily; the loop device goes with its last user', async () => {
    const p = await fresh();
    await createWorkspaceDisk({ ...p, sizeMib: 64, uid: 4242, gid: 4242 });
    const busy = spawn('/bin/sleep', ['60'], { cwd: p.mountPoint, stdio: 'ignore' });
    try {
      await removeWorkspaceDisk(p);
      expect(await mountsAt(p.mountPoint)).toBe(0);
      expect(await exists(p.image)).toBe(false);
    } finally {
      busy.kill('SIGKILL');
      await once(busy, 'exit');
    }
    await gone(p);
  });

  it('refuses a bad size, an existing image, or more than the host has free, leaving what was there', async () => {
    const p = await fresh();
    const o = { ...p, uid: 4242, gid: 4242 };
    await expect(createWorkspaceDisk({ ...o, sizeMib: 16 })).rejects.toThrow(/from 64 to/);
    await expect(createWorkspaceDisk({ ...o, sizeMib: 64.5 })).rejects.toThrow(/integer/);
    await expect(createWorkspaceDisk({ ...o, image: 'rel.img', sizeMib: 64 })).rejects.toThrow(/absolute/);
    await writeFile(p.image, 'not ours');
    await expect(createWorkspaceDisk({ ...o, sizeMib: 64 })).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await stat(p.image)).size).toBe(8);
    await rm(p.image);
    const free = await statfs(root);
    if (free.bavail * free.bsize < DISK_MIB_MAX * 1048576)
      await expect(createWorkspaceDisk({ ...o, sizeMib: DISK_MIB_MAX })).rejects.toThrow(/does not fit/);
    await gone(p);
  });

  it('pools one image of the size last asked for, which a disk then uses instead of formatting', async () => {
    const pool = new FormattedImagePool(join(root, 'pool'), silentLogger());
    try {
      expect(pool.take(64)).toBeUndefined(); // nothing before the first fill; the size is remembered
      await pool.warm();
      const [made] = await readdir(join(root, 'pool'));
      const ready = pool.take(64)!;
      expect(ready).toBe(join(root, 'pool', made!));
      expect(pool.take(64)).toBeUndefined(); // never handed out twice
      const inode = (await stat(ready)).ino;
      const p = await fresh();
      await createWorkspaceDisk({ ...p, sizeMib: 64, uid: 4242, gid: 4242 }, ready);
      expect((await stat(p.image)).ino).toBe(inode);
      expect(await exists(ready)).toBe(false);
      expect((await stat(p.mountPoint)).uid).toBe(4242);
      expect(await readdir(p.mountPoint)).toEqual([]);
      await removeWorkspaceDisk(p);
      await gone(p);
      // A gone image is not an error: the disk is formatted on the spot.
      const q = await fresh();
      await createWorkspaceDisk({ ...q, sizeMib: 64, uid: 1, gid: 1 }, join(root, 'pool', 'missing.img'));
      expect(await mountsAt(q.mountPoint)).toBe(1);
      // Another size asked for: the next fill replaces the idle image.
      await pool.warm();
      expect(pool.take(128)).toBeUndefined();
      await pool.warm();
      const files = await readdir(join(root, 'pool'));
      expect(files).toHaveLength(1);
      expect((await stat(join(root, 'pool', files[0]!))).size).toBe(128 * 1048576);
    } finally {
      await pool.close();
    }
    expect(await readdir(join(root, 'pool'))).toEqual([]);
  });

  it('rolls back when mounting fails', async () => {
    const p = await fresh();
    await rm(p.mountPoint, { recursive: true }); // no mount point: mount(8) fails after mkfs
    await expect(createWorkspaceDisk({ ...p, sizeMib: 64, uid: 4242, gid: 4242 })).rejects.toThrow(/mount/);
    await gone(p);
  });
});
