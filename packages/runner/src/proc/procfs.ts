import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it. `startTime` (clock ticks since boot) tells a reused pid apart. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Single-letter state; 'Z' (zombie) and 'X' (dead) processes no longer run anything. */
  state: string;
  startTime: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and parentheses, so fields are read
 * after the last ')'.
 */
export function parseStat(stat: string): ProcInfo | null {
  const close = stat.lastIndexOf(')');
  const pid = Number.parseInt(stat, 10);
  if (close < 0 || !Number.isInteger(pid)) return null;
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(rest[1]);
  const startTime = Number(rest[19]);
  if (!Number.isInteger(ppid) || !Number.isFinite(startTime)) return null;
  return { pid, ppid, state: rest[0] ?? '?', startTime };
}

/** Every process visible in `procRoot` (processes that vanish while listing are skipped). */
export function listProcesses(procRoot = '/proc'): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const info = parseStat(readFileSync(`${procRoot}/${name}/stat`, 'utf8'));
      if (info) out.push(info);
    } catch {
      // Exited between readdir and read.
    }
  }
  return out;
}

/** The pids below `root` in the ppid tree (not `root` itself). */
export function descendantsOf(root: number, procs: readonly ProcInfo[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * The pids whose environment contains `name=value`. Tool processes inherit the CLI's environment, so this finds
 * them even after they detach (setsid, double fork) and are re-parented away from the CLI. Processes whose
 * environ cannot be read (another uid, exited) are skipped.
 */
export function pidsWithEnv(name: string, value: string, procs: readonly ProcInfo[], procRoot = '/proc'): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const out: number[] = [];
  for (const p of procs) {
    try {
      const environ = readFileSync(`${procRoot}/${p.pid}/environ`);
      const at = environ.indexOf(needle);
      if (at === 0 || (at > 0 && environ[at - 1] === 0)) out.push(p.pid);
    } catch {
      // EACCES or exited.
    }
  }
  return out;
}
