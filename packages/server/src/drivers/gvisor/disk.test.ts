import { existsSync } from 'node:fs';
import { access, mkdir, readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { diskPaths, sandboxPaths } from '../bwrap/fsprep.js';
import { Harness } from '../conformance/harness.js';
import { eventually } from '../conformance/host.js';
import { createWorkspaceDisk, loopDevicesOf, mountsAt, workspaceDiskUnsupported } from '../disk/index.js';
import { GvisorDriver } from './gvisor-driver.js';
import { makeGvisorDriver, skip as noGvisor } from './testing.js';

const skip = noGvisor !== false ? noGvisor : (workspaceDiskUnsupported() ?? false);
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const MIB = 1048576;
/** The guest's view of /workspace (statfs is answered by the gofer from the host's mount). */
const report = `const s = fs.statfsSync('/workspace'); await report({ total: s.blocks * s.bsize });
  setInterval(() => {}, 1000);`;
/** Run in the guest by python3: what fallocate, a sparse file and writes past the quota get. */
const PY = `
import errno, json, os
out = {}
def attempt(name, fn):
    try:
        fn(); out[name] = 'ok'
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
fd = os.open('/workspace/f', os.O_RDWR | os.O_CREAT, 0o600)
attempt('truncate', lambda: os.ftruncate(fd, 200 << 20))
attempt('fallocate', lambda: os.posix_fallocate(fd, 0, 200 << 20))
os.close(fd); os.unlink('/workspace/f')
fd = os.open('/home/agent/w', os.O_WRONLY | os.O_CREAT, 0o600)
out['written'] = 0
def fill():
    for _ in range(200):
        os.write(fd, b'y' * (1 << 20)); out['written'] += 1
attempt('write', fill)
attempt('fsync', lambda: os.fsync(fd))
os.close(fd)
print(json.dumps(out), flush=True)
`;

describe.skipIf(skip !== false)(`gvisor workspace disks${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });
  const setup = async (opts: { workspaceDisks?: boolean } = {}) => {
    const base = await makeGvisorDriver();
    const driver = new GvisorDriver({ ...base.opts, ...opts });
    const h = await Harness.start(driver, base.installDir);
    disposers.push(
      () => base.cleanup(),
      () => h.close(),
      () => driver.close(),
    );
    return { driver, opts: base.opts, h, sandboxesDir: base.opts.sandboxesDir };
  };
  /** No mount, loop device, image or directory of the sandbox is left. */
  const gone = async (sandboxesDir: string, id: string) => {
    const disk = diskPaths(sandboxPaths(sandboxesDir, id, true));
    expect(await mountsAt(disk.mountPoint)).toBe(0);
    expect(await eventually(async () => (await loopDevicesOf(disk.image)).length === 0)).toBe(true);
    expect(await exists(join(sandboxesDir, id))).toBe(false);
  };

  it.skipIf(!existsSync('/usr/bin/python3'))(
    'answers writes and fallocate past the quota with the host filesystem’s ENOSPC; the image never grows past it',
    async () => {
      const { driver, h, sandboxesDir } = await setup();
      expect(driver.capabilities.diskLimit).toBe(true);
      const hostBefore = await statfs(join(sandboxesDir, '..'));
      const p = await h.probe(
        `const st = fs.statfsSync('/workspace');
         const r = cp.spawnSync('/usr/bin/python3', ['-c', ${JSON.stringify(PY)}], { encoding: 'utf8' });
         await report({ total: st.blocks * st.bsize, out: r.stdout, err: r.stderr, status: r.status });
         setInterval(() => {}, 1000);`,
        { resources: { diskMib: 64 } },
      );
      const m = await p.next(120_000);
      expect(m.status, String(m.err)).toBe(0);
      // The guest sees the disk, not the host's filesystem.
      expect(m.total as number).toBeLessThanOrEqual(64 * MIB);
      expect(m.total as number).toBeGreaterThan(56 * MIB);
      const out = JSON.parse(m.out as string) as Record<string, unknown>;
      // A sparse file may be larger than the disk (as on Linux); reserving its blocks may not.
      expect(out).toMatchObject({ truncate: 'ok', fallocate: 'ENOSPC', write: 'ENOSPC' });
      expect(out.written as number).toBeGreaterThan(40);
      expect(out.written as number).toBeLessThan(64);
      const image = diskPaths(sandboxPaths(sandboxesDir, p.info.id, true)).image;
      expect(p.info.workspaceDir).toBe(join(sandboxesDir, p.info.id, 'disk', 'workspace'));
      expect((await stat(image)).size).toBe(64 * MIB);
      expect((await stat(image)).blocks * 512).toBeLessThanOrEqual(64 * MIB);
      const hostAfter = await statfs(join(sandboxesDir, '..'));
      expect(hostBefore.bavail - hostAfter.bavail).toBeLessThan((70 * MIB) / hostBefore.bsize);
      await driver.destroy(p.info.id);
      h.created.delete(p.info.id);
      await gone(sandboxesDir, p.info.id);
    },
  );

  it('frees a destroyed disk while a sandbox started after it lives on', async () => {
    // runsc's gofer starts from a copy of the host's mount namespace, which holds the earlier sandbox's disk; that
    // copy must not keep the disk's loop device attached after its own sandbox is destroyed.
    const { driver, h, sandboxesDir } = await setup();
    const first = await h.probe(report, { resources: { diskMib: 64 } });
    await first.next();
    const later = await h.probe(report, { resources: { diskMib: 64 } });
    expect((await later.next()).total as number).toBeLessThanOrEqual(64 * MIB);
    await driver.destroy(first.info.id);
    h.created.delete(first.info.id);
    await gone(sandboxesDir, first.info.id);
    expect((await driver.inspect(later.info.id))?.status).toBe('running');
  });

  it('a second create of the same size uses an image formatted ahead; close() deletes the idle one', async () => {
    const { driver, h, sandboxesDir } = await setup();
    const first = await h.probe(report, { resources: { diskMib: 64 } });
    await first.next();
    const poolDir = join(sandboxesDir, '.disk-pool');
    // A finished image (the pool formats under `.part` and renames when done).
    const images = async () => (await readdir(poolDir).catch(() => [])).filter((f) => f.endsWith('.img'));
    expect(await eventually(async () => (await images()).length === 1)).toBe(true);
    const [name] = await images();
    const inode = (await stat(join(poolDir, name!))).ino;
    const second = await h.probe(report, { resources: { diskMib: 64 } });
    expect((await second.next()).total as number).toBeLessThanOrEqual(64 * MIB);
    expect((await stat(diskPaths(sandboxPaths(sandboxesDir, second.info.id, true)).image)).ino).toBe(inode);
    await driver.close();
    expect(await readdir(poolDir)).toEqual([]);
  });

  it('a restarted driver sweeps the disk of a half-created sandbox, keeps a kept workspace, destroys the rest', async () => {
    const { driver, opts, h, sandboxesDir } = await setup();
    const kept = await h.probe(report, { resources: { diskMib: 64 } });
    await kept.next();
    await driver.destroy(kept.info.id, { keepWorkspace: true });
    expect(await exists(join(kept.info.workspaceDir, '..', 'home'))).toBe(false);
    const running = await h.probe(report, { resources: { diskMib: 64 } });
    await running.next();
    // What a berthd that died between mounting the disk and writing sandbox.json leaves behind.
    const half = newId('sandbox');
    const halfDisk = diskPaths(sandboxPaths(sandboxesDir, half, true));
    await mkdir(halfDisk.mountPoint, { recursive: true });
    await createWorkspaceDisk({ ...halfDisk, sizeMib: 64, uid: 0, gid: 0 });
    const restarted = new GvisorDriver(opts);
    disposers.push(() => restarted.close());
    await restarted.warmUp(); // start-up discovery runs the sweep
    expect((await restarted.list()).map((s) => s.id)).toEqual([running.info.id]);
    expect(await mountsAt(halfDisk.mountPoint)).toBe(0);
    expect(await eventually(async () => (await loopDevicesOf(halfDisk.image)).length === 0)).toBe(true);
    expect(await mountsAt(diskPaths(sandboxPaths(sandboxesDir, kept.info.id, true)).mountPoint)).toBe(1);
    for (const id of [running.info.id, kept.info.id, half]) {
      await restarted.destroy(id);
      h.created.delete(id);
      await gone(sandboxesDir, id);
    }
  });

  it('with workspaceDisks: false, declares diskLimit=false and refuses a quota', async () => {
    const { driver, h } = await setup({ workspaceDisks: false });
    expect(driver.capabilities.diskLimit).toBe(false);
    await expect(h.probe(report, { resources: { diskMib: 64 } })).rejects.toThrow(/workspace disks are turned off/);
  });
});
