import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * CPU time of the processes in a set of v1 cpuacct cgroups, by command name (`/proc/<pid>/stat` utime + stime),
 * for the load driver's profile: which program in the sandboxes spends the CPU of a turn. Processes that exit in
 * between (a tool's shell) are not seen here; their time is in the cgroup's total.
 */
const CPUACCT = '/sys/fs/cgroup/cpuacct/berth';
const TICK_S = 0.01; // USER_HZ = 100 on Linux

export async function cpuByCommand(cgroups: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const cg of cgroups) {
    const procs = await readFile(join(CPUACCT, cg, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const close = stat.lastIndexOf(')');
      if (close < 0) continue;
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      const key = `${pid}:${comm}`;
      out.set(key, (Number(f[11]) + Number(f[12])) * TICK_S);
    }
  }
  return out;
}

/** Seconds per command name spent between two samples (processes alive at both). */
export function cpuDelta(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [key, t] of b) {
    const comm = key.slice(key.indexOf(':') + 1);
    by[comm] = (by[comm] ?? 0) + t - (a.get(key) ?? 0);
  }
  for (const k of Object.keys(by)) by[k] = Math.round(by[k]! * 100) / 100;
  return by;
}
