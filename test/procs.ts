import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Host-side probes used by end-to-end tests to prove a sandbox left nothing behind. */

export interface HostProc {
  pid: number;
  uid: number;
  cmdline: string;
  /** True for an exited process its parent has not reaped yet (it holds no memory, CPU or files). */
  zombie: boolean;
}

/** Every process on the host (unreadable ones skipped). */
export function hostProcesses(): HostProc[] {
  const out: HostProc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(d), uid, cmdline, zombie: /^State:\s+Z/m.test(status) });
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

/**
 * Live processes of a host uid. Zombies are left out: orphans are reaped by the host's init, which on some
 * machines (this one's pid 1 is not a real init) does it only after a delay.
 */
export function processesOfUid(uid: number): HostProc[] {
  return hostProcesses().filter((p) => p.uid === uid && !p.zombie);
}

export function processesMatching(marker: string): HostProc[] {
  return hostProcesses().filter((p) => p.cmdline.includes(marker) && !p.cmdline.includes('vitest'));
}

/** cgroup directories whose name contains `id`, in every mounted hierarchy (v1 and v2). */
export function cgroupDirsFor(id: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = `${dir}/${e.name}`;
      if (e.name.includes(id)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

/** Mount points on the host whose path contains `s`. */
export function mountsContaining(s: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(s));
}

/** Polls `fn` until it returns true or `ms` passes. */
export async function waitFor(fn: () => boolean | Promise<boolean>, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return fn();
}

/** Loop devices whose backing file lies under `dir`. */
export function loopDevicesUnder(dir: string): string[] {
  return readdirSync('/sys/block')
    .filter((n) => /^loop\d+$/.test(n))
    .filter((n) => {
      const f = `/sys/block/${n}/loop/backing_file`;
      return existsSync(f) && readFileSync(f, 'utf8').startsWith(dir);
    });
}

/** Mount points under `dir` in this process's mount namespace. */
export const mountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.startsWith(dir));
