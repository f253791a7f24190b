import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** One cgroup filesystem mount, from /proc/self/mountinfo. */
export interface CgroupMount {
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  /** v1: the controllers this hierarchy carries (e.g. ['cpu', 'cpuacct']); v2: empty. */
  controllers: string[];
}

/** The v1 controllers the manager uses: three for limits, cpuacct for usage, freezer for race-free kills. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** What the host offers: a unified v2 hierarchy, or v1 hierarchies (plus maybe a controller-less v2 mount). */
export type CgroupLayout =
  { version: 2; root: string } | { version: 1; hierarchies: Map<V1Controller, string>; unified: string | undefined };

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses the cgroup and cgroup2 mounts out of a /proc/self/mountinfo text. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mountpoint> <opts> [optional...] - <fstype> <source> <superopts>"
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    if (mountPoint === undefined) continue;
    if (fsType === 'cgroup2') out.push({ mountPoint: unescape(mountPoint), fsType, controllers: [] });
    else if (fsType === 'cgroup') {
      const controllers = superOpts.split(',').filter((o) => (V1_CONTROLLERS as readonly string[]).includes(o));
      out.push({ mountPoint: unescape(mountPoint), fsType, controllers });
    }
  }
  return out;
}

/**
 * Decides v1 or v2 from the mounts. `cgroupRoot` (normally /sys/fs/cgroup) is v2 when a cgroup2 filesystem is
 * mounted exactly there; otherwise the v1 hierarchies found anywhere are used. Undefined when neither exists.
 */
export function layoutFromMounts(mounts: CgroupMount[], cgroupRoot = '/sys/fs/cgroup'): CgroupLayout | undefined {
  if (mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === cgroupRoot))
    return { version: 2, root: cgroupRoot };
  const hierarchies = new Map<V1Controller, string>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    // The first mount of a controller wins; later ones are bind mounts of the same hierarchy (e.g. in containers).
    for (const c of m.controllers as V1Controller[]) if (!hierarchies.has(c)) hierarchies.set(c, m.mountPoint);
  }
  if (hierarchies.size === 0) return undefined;
  const unified = mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint;
  return { version: 1, hierarchies, unified };
}

/** Reads /proc/self/mountinfo and detects the cgroup layout of this host. */
export async function detectCgroupLayout(cgroupRoot = '/sys/fs/cgroup'): Promise<CgroupLayout | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return layoutFromMounts(parseCgroupMounts(text), cgroupRoot);
}

/** `detectCgroupLayout`, synchronously (start-up only). */
export function detectCgroupLayoutSync(cgroupRoot = '/sys/fs/cgroup'): CgroupLayout | undefined {
  return layoutFromMounts(parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')), cgroupRoot);
}
