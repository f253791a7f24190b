import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Where the disk tools are looked up (berthd's PATH is not trusted, as for every spawned binary). */
const BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The tools a workspace disk needs: e2fsprogs' mkfs.ext4 and e2fsck, util-linux's mount, umount and losetup, and
 * coreutils' chown (a disk handed over to a new sandbox is given to its uid, see handover.ts).
 */
export const DISK_TOOLS = ['mkfs.ext4', 'e2fsck', 'mount', 'umount', 'losetup', 'chown'] as const;
export type DiskTool = (typeof DISK_TOOLS)[number];

/** Absolute path of a tool in the standard bin dirs, or undefined. Synchronous: capabilities are decided at once. */
export function findTool(name: DiskTool): string | undefined {
  for (const dir of BIN_DIRS) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next dir
    }
  }
  return undefined;
}

/**
 * Why workspace disks cannot be made on this host, or undefined when they can: root (mounting), the loop
 * control device (loop devices are allocated on demand) and the tools must all be there.
 */
export function workspaceDiskUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'loop-mounting workspace images needs root';
  if (!existsSync('/dev/loop-control')) return 'the kernel has no loop devices (/dev/loop-control is missing)';
  const missing = DISK_TOOLS.filter((t) => findTool(t) === undefined);
  if (missing.length > 0) return `missing ${missing.join(', ')}: apt-get install e2fsprogs mount coreutils`;
  return undefined;
}

const execFileP = promisify(execFile);

/** Runs a disk tool with an argv array and an empty environment; the error carries its stderr. */
export async function runTool(name: DiskTool, args: string[]): Promise<void> {
  const bin = findTool(name);
  if (bin === undefined) throw new Error(`${name} is not installed`);
  try {
    await execFileP(bin, args, { env: { PATH: BIN_DIRS.join(':') }, timeout: 60_000 });
  } catch (err) {
    const raw = (err as { stderr?: unknown }).stderr;
    const stderr = (typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : '').trim();
    throw new Error(`${name} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** How many mounts (stacked ones count) sit exactly at `path` in berthd's mount namespace. */
export async function mountsAt(path: string): Promise<number> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let n = 0;
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined && unescape(mp) === path) n++;
  }
  return n;
}

/**
 * Loop devices (`/dev/loopN`) whose backing file is `image`, from sysfs. The kernel shows a backing file that was
 * unlinked as `<path> (deleted)`; those count too, so a half-finished cleanup is still found.
 */
export async function loopDevicesOf(image: string): Promise<string[]> {
  const names = await readdir('/sys/block').catch(() => [] as string[]);
  const found = await Promise.all(
    names
      .filter((n) => /^loop\d+$/.test(n))
      .map(async (n) => {
        const backing = await readFile(`/sys/block/${n}/loop/backing_file`, 'utf8').catch(() => '');
        const file = backing.replace(/\n$/, '');
        return file === image || file === `${image} (deleted)` ? `/dev/${n}` : undefined;
      }),
  );
  return found.filter((d): d is string => d !== undefined);
}
