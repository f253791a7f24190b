import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  access,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../conformance/host.js';
import {
  attachWorkspaceDisk,
  createWorkspaceDisk,
  detachWorkspaceDisk,
  DiskHandoverRefused,
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

/**
 * Handing a workspace disk from one sandbox to a later one (hibernation): real loop mounts, real ext4, real uids.
 * What must hold: the image moves only once its filesystem is shut down; the next owner gets every file as its own
 * uid without a symlink leading the chown outside; a failed attach leaves the image where it was; an image that is
 * not one of ours is refused before the kernel mounts it; a filesystem still live in another mount namespace is
 * never moved (it is mounted back instead).
 */
describe.skipIf(skip !== undefined)(`workspace disk hand-over${skip ? ` (skipped: ${skip})` : ''}`, async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-handover-test-'));
  let n = 0;
  const made: WorkspaceDiskPaths[] = [];
  const fresh = async (): Promise<WorkspaceDiskPaths> => {
    const dir = join(root, `d${n++}`);
    await mkdir(join(dir, 'disk'), { recursive: true });
    const p = { image: join(dir, 'disk.img'), mountPoint: join(dir, 'disk') };
    made.push(p);
    return p;
  };
  /** A disk laid out as the drivers lay it out (root's root, workspace and home of `uid`), with a few files. */
  const populated = async (uid: number): Promise<WorkspaceDiskPaths> => {
    const p = await fresh();
    await createWorkspaceDisk({ ...p, sizeMib: 64, uid: 0, gid: 0, mode: 0o711 });
    for (const t of ['workspace', 'home']) await mkdir(join(p.mountPoint, t), { mode: 0o700 });
    await mkdir(join(p.mountPoint, 'workspace', 'sub'));
    await writeFile(join(p.mountPoint, 'workspace', 'sub', 'f.txt'), 'HANDOVER-1');
    await writeFile(join(p.mountPoint, 'home', 'transcript.jsonl'), '{"turn":1}\n');
    await spawnOk('chown', ['-R', `${uid}:${uid}`, join(p.mountPoint, 'workspace'), join(p.mountPoint, 'home')]);
    return p;
  };
  afterAll(async () => {
    for (const p of made) await removeWorkspaceDisk(p).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('moves a cleanly unmounted image and mounts it for a new uid, files and all', async () => {
    const a = await populated(4301);
    // A symlink the old sandbox left, pointing at a host file: the chown must change the link, not the target.
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'host file');
    await symlink(outside, join(a.mountPoint, 'workspace', 'escape'));
    const blob = join(root, 'snapshot.img');
    await detachWorkspaceDisk(a, blob);
    expect(await mountsAt(a.mountPoint)).toBe(0);
    expect(await loopDevicesOf(blob)).toEqual([]);
    expect(await exists(a.image)).toBe(false);
    // Cleanly unmounted: the superblock says so (s_state bit 0).
    const sb = await readFile(blob).then((b) => b.subarray(1024, 1024 + 64));
    expect(sb.readUInt16LE(0x38)).toBe(0xef53);
    expect(sb.readUInt16LE(0x3a) & 1).toBe(1);
    // Again after a crash half-way: already moved is done.
    await detachWorkspaceDisk(a, blob);

    const b = await fresh();
    expect(await attachWorkspaceDisk({ ...b, uid: 4302, gid: 4302 }, blob)).toBe(64);
    expect(await readFile(join(b.mountPoint, 'workspace', 'sub', 'f.txt'), 'utf8')).toBe('HANDOVER-1');
    for (const f of ['workspace', 'workspace/sub', 'workspace/sub/f.txt', 'home/transcript.jsonl', 'workspace/escape'])
      expect((await lstat(join(b.mountPoint, f))).uid, f).toBe(4302);
    expect(await readlink(join(b.mountPoint, 'workspace', 'escape'))).toBe(outside);
    expect((await stat(outside)).uid).toBe(0);
    expect((await stat(b.mountPoint)).uid).toBe(0);
    // The old name stays until the caller drops it (the new sandbox is recorded): one inode, two names.
    expect((await stat(blob)).ino).toBe((await stat(b.image)).ino);
    await removeWorkspaceDisk(b);
    expect(await exists(blob)).toBe(true);
  });

  it('leaves the image where it was when the attach fails, and refuses what is not a disk image of ours', async () => {
    const a = await populated(4303);
    const blob = join(root, 'kept.img');
    await detachWorkspaceDisk(a, blob);
    const b = await fresh();
    await rm(b.mountPoint, { recursive: true }); // no mount point: mount(8) fails
    await expect(attachWorkspaceDisk({ ...b, uid: 4304, gid: 4304 }, blob)).rejects.toThrow(/mount/);
    expect(await exists(b.image)).toBe(false);
    expect(await exists(blob)).toBe(true);
    expect(await loopDevicesOf(blob)).toEqual([]);

    const c = await fresh();
    await chmod(blob, 0o644); // readable by others: not something berthd wrote
    await expect(attachWorkspaceDisk({ ...c, uid: 1, gid: 1 }, blob)).rejects.toThrow(/not a workspace disk image/);
    await chmod(blob, 0o600);
    const junk = join(root, 'junk.img');
    await writeFile(junk, Buffer.alloc(64 * 1048576), { mode: 0o600 });
    await expect(attachWorkspaceDisk({ ...c, uid: 1, gid: 1 }, junk)).rejects.toThrow(/no ext4 filesystem/);
    await expect(attachWorkspaceDisk({ ...c, uid: 1, gid: 1 }, join(root, 'none.img'))).rejects.toThrow(/no disk/);
    expect(await mountsAt(c.mountPoint)).toBe(0);
  });

  it('repairs an image that was not cleanly unmounted before mounting it', async () => {
    const a = await populated(4305);
    const blob = join(root, 'dirty.img');
    await detachWorkspaceDisk(a, blob);
    // As a host crash while mounted would leave it: s_state without the clean bit (debugfs keeps the checksum).
    await spawnOk('debugfs', ['-w', '-R', 'ssv state 0', blob]);
    await spawnOk('debugfs', ['-w', '-R', 'ssv lastcheck 20000101', blob]);
    const sb = async () => (await readFile(blob)).subarray(1024, 1024 + 0x44);
    expect((await sb()).readUInt16LE(0x3a) & 1).toBe(0);
    const b = await fresh();
    await attachWorkspaceDisk({ ...b, uid: 4306, gid: 4306 }, blob);
    // e2fsck ran (it records when it last checked) and left the filesystem clean.
    expect((await sb()).readUInt32LE(0x40)).toBeGreaterThan(Date.parse('2020-01-01') / 1000);
    expect(await readFile(join(b.mountPoint, 'workspace', 'sub', 'f.txt'), 'utf8')).toBe('HANDOVER-1');
  });

  it('does not move a filesystem another mount namespace keeps live: it is mounted back, files intact', async () => {
    const a = await populated(4307);
    // A namespace copied while the disk is mounted (as a staged sandbox's root bwrap is) holds its filesystem.
    const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
    try {
      expect(await eventually(async () => (await readlinkNs(holder.pid!)) !== (await readlinkNs(process.pid)))).toBe(
        true,
      );
      await expect(detachWorkspaceDisk(a, join(root, 'refused.img'))).rejects.toBeInstanceOf(DiskHandoverRefused);
      expect(await exists(a.image)).toBe(true);
      expect(await exists(join(root, 'refused.img'))).toBe(false);
      expect(await mountsAt(a.mountPoint)).toBe(1);
      expect(await readFile(join(a.mountPoint, 'workspace', 'sub', 'f.txt'), 'utf8')).toBe('HANDOVER-1');
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    }
    await removeWorkspaceDisk(a);
    expect(await eventually(async () => (await loopDevicesOf(a.image)).length === 0)).toBe(true);
  });
});

async function readlinkNs(pid: number): Promise<string> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => '');
}

async function spawnOk(cmd: string, args: string[]): Promise<void> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${cmd} exited with ${code}`);
}
