import { access, mkdir, readdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { Harness } from '../conformance/harness.js';
import { eventually } from '../conformance/host.js';
import { createWorkspaceDisk, DISK_MIB_MAX, loopDevicesOf, mountsAt, workspaceDiskUnsupported } from '../disk/index.js';
import { BwrapDriver } from './bwrap-driver.js';
import { diskPaths, sandboxPaths } from './fsprep.js';
import { POOL_CGROUP_PREFIX } from './pool.js';
import { makeDriver, skip as noSandboxes } from './testing.js';

const skip = noSandboxes !== false ? noSandboxes : (workspaceDiskUnsupported() ?? false);
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const report = `const s = fs.statfsSync('/workspace'); await report({ total: s.blocks * s.bsize });
  setInterval(() => {}, 1000);`;

describe.skipIf(skip !== false)(`bwrap workspace disks${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });
  const setup = async (launcherPool = 1, traversable = true) => {
    const dut = await makeDriver(traversable, {}, { launcherPool });
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    return { dut, h, sandboxesDir: dut.opts.sandboxesDir };
  };
  /** No mount, loop device, image or directory of the sandbox is left. */
  const gone = async (sandboxesDir: string, id: string) => {
    const disk = diskPaths(sandboxPaths(sandboxesDir, id, true));
    expect(await mountsAt(disk.mountPoint)).toBe(0);
    expect(await eventually(async () => (await loopDevicesOf(disk.image)).length === 0)).toBe(true);
    expect(await exists(join(sandboxesDir, id))).toBe(false);
  };

  it('gives pooled and direct creates a disk of the quota, and destroy removes mount, loop device and image', async () => {
    const { dut, h, sandboxesDir } = await setup(1);
    await dut.driver.warmUp();
    const probes = await Promise.all([0, 1].map(() => h.probe(report, { resources: { diskMib: 64 } })));
    expect(probes.filter((p) => p.info.cgroup!.startsWith(POOL_CGROUP_PREFIX))).toHaveLength(1);
    for (const p of probes) {
      expect(((await p.next()).total as number) <= 64 * 1048576).toBe(true);
      expect(p.info.workspaceDir).toBe(join(sandboxesDir, p.info.id, 'disk', 'workspace'));
      await dut.driver.destroy(p.info.id);
      h.created.delete(p.info.id);
      await gone(sandboxesDir, p.info.id);
    }
  });

  for (const traversable of [true, false])
    it(`frees a destroyed disk while a sandbox started after it lives on (${traversable ? 'direct' : 'staged'})`, async () => {
      // Every sandbox's mount namespace starts as a copy of the host's, other sandboxes' disks included; none may
      // keep such a copy, or the disk's loop device would stay attached until that other sandbox ends.
      const { dut, h, sandboxesDir } = await setup(0, traversable);
      const withDisk = await h.probe(report, { resources: { diskMib: 64 } });
      await withDisk.next();
      const later = await h.probe(report, { resources: { diskMib: 64 } });
      await later.next();
      await dut.driver.destroy(withDisk.info.id);
      h.created.delete(withDisk.info.id);
      await gone(sandboxesDir, withDisk.info.id);
      expect((await dut.driver.inspect(later.info.id))?.status).toBe('running');
    });

  it('a second create of the same size uses an image formatted ahead', async () => {
    const { dut, h, sandboxesDir } = await setup(0);
    const first = await h.probe(report, { resources: { diskMib: 64 } });
    await first.next();
    const poolDir = join(sandboxesDir, '.disk-pool');
    // A finished image (the pool formats under `.part` and renames when done).
    const images = async () => (await readdir(poolDir).catch(() => [])).filter((f) => f.endsWith('.img'));
    expect(await eventually(async () => (await images()).length === 1)).toBe(true);
    const [name] = await images();
    const inode = (await stat(join(poolDir, name!))).ino;
    const second = await h.probe(report, { resources: { diskMib: 64 } });
    expect(((await second.next()).total as number) <= 64 * 1048576).toBe(true);
    expect((await stat(diskPaths(sandboxPaths(sandboxesDir, second.info.id, true)).image)).ino).toBe(inode);
    await dut.driver.close();
    expect(await readdir(poolDir)).toEqual([]); // close() deletes the idle image
  });

  it('rolls back a create whose disk cannot be made, on the pooled and the direct path', async (t) => {
    const { dut, h, sandboxesDir } = await setup(1);
    const free = await statfs(dirname(sandboxesDir));
    if (free.bavail * free.bsize >= DISK_MIB_MAX * 1048576) t.skip('the host has more than DISK_MIB_MAX free');
    await dut.driver.warmUp();
    for (const _ of [0, 1]) {
      const id = newId('sandbox');
      await expect(h.probe(report, { id, resources: { diskMib: DISK_MIB_MAX } })).rejects.toThrow(/does not fit/);
      h.created.delete(id);
      await gone(sandboxesDir, id);
    }
    expect((await readdir(sandboxesDir)).filter((n) => n.startsWith('sbx_'))).toEqual([]);
  });

  it('a restarted driver sweeps the disk of a half-created sandbox, keeps a kept workspace, destroys the rest', async () => {
    const { dut, h, sandboxesDir } = await setup(0);
    const kept = await h.probe(report, { resources: { diskMib: 64 } });
    await kept.next();
    await dut.driver.destroy(kept.info.id, { keepWorkspace: true });
    const running = await h.probe(report, { resources: { diskMib: 64 } });
    await running.next();
    // What a berthd that died between mounting the disk and writing sandbox.json leaves behind.
    const half = newId('sandbox');
    const halfPaths = sandboxPaths(sandboxesDir, half, true);
    await mkdir(diskPaths(halfPaths).mountPoint, { recursive: true });
    await createWorkspaceDisk({ ...diskPaths(halfPaths), sizeMib: 64, uid: 0, gid: 0 });
    const restarted = new BwrapDriver(dut.opts);
    dut.others.push(restarted);
    await restarted.warmUp(); // start-up discovery runs the sweep
    expect(await mountsAt(diskPaths(halfPaths).mountPoint)).toBe(0);
    expect(await eventually(async () => (await loopDevicesOf(diskPaths(halfPaths).image)).length === 0)).toBe(true);
    expect(await exists(diskPaths(halfPaths).image)).toBe(false);
    expect(await mountsAt(diskPaths(sandboxPaths(sandboxesDir, kept.info.id, true)).mountPoint)).toBe(1);
    // berthd's start-up cleanup: destroy whatever list() finds; then the kept workspace's own destroy.
    expect((await restarted.list()).map((s) => s.id)).toEqual([running.info.id]);
    for (const id of [running.info.id, kept.info.id, half]) {
      await restarted.destroy(id);
      h.created.delete(id);
      await gone(sandboxesDir, id);
    }
  });
});
