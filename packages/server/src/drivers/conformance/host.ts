import type { SandboxInfo } from '../driver.js';
import type { DriverUnderTest } from './context.js';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Host pids of live processes whose real uid is `uid`. Zombies are left out: they have exited and hold no
 * resources; when their parent died in the same kill they wait for the host's init to reap them, which on some
 * hosts (not systemd) takes a while.
 */
export async function processesOfUid(uid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  const owned = await Promise.all(
    pids.map(async (p) => {
      const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
      const live = !/^State:\s+Z/m.test(status);
      return live && /^Uid:\s+(\d+)/m.exec(status)?.[1] === String(uid) ? Number(p) : undefined;
    }),
  );
  return owned.filter((p): p is number => p !== undefined);
}

/** Mount points (host mount namespace) whose path contains `needle`. */
export async function mountsMentioning(needle: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.includes(needle));
}

/** Directories named `name` in any cgroup hierarchy, searched a few levels deep (groups live at <parent>/<id>). */
export async function cgroupDirsNamed(name: string, depth = 4): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const roots = text
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4] ?? '');
  const found: string[] = [];
  const walk = async (dir: string, left: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (e.name === name) found.push(join(dir, e.name));
      else if (left > 0) await walk(join(dir, e.name), left - 1);
    }
  };
  await Promise.all(roots.map((r) => walk(r, depth)));
  return found;
}

/** Polls `fn` until it returns true or `ms` pass; returns the last result. */
export async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The host pids of a sandbox under test: the driver-specific oracle when the suite was given one, else by uid. */
export function sandboxProcesses(dut: DriverUnderTest, info: SandboxInfo): Promise<number[]> {
  return dut.hostProcesses ? dut.hostProcesses(info) : processesOfUid(info.hostUid);
}
