import { describe, expect, it } from 'vitest';
import { layoutFromMounts, parseCgroupMounts } from './detect.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const PURE_V2 = `25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

const COMOUNTED = `30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/my\\040pids rw shared:11 - cgroup cgroup rw,pids`;

describe('cgroup detection', () => {
  it('reads a hybrid host as v1 and remembers the controller-less unified mount', () => {
    const layout = layoutFromMounts(parseCgroupMounts(HYBRID));
    expect(layout?.version).toBe(1);
    if (layout?.version !== 1) return;
    expect(Object.fromEntries(layout.hierarchies)).toEqual({
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      memory: '/sys/fs/cgroup/memory',
      freezer: '/sys/fs/cgroup/freezer',
      pids: '/sys/fs/cgroup/pids',
    });
    expect(layout.unified).toBe('/sys/fs/cgroup/unified');
  });

  it('reads a cgroup2 mount at /sys/fs/cgroup as v2, optional fields and all', () => {
    expect(layoutFromMounts(parseCgroupMounts(PURE_V2))).toEqual({ version: 2, root: '/sys/fs/cgroup' });
  });

  it('maps co-mounted controllers to one hierarchy and unescapes mount points', () => {
    const layout = layoutFromMounts(parseCgroupMounts(COMOUNTED));
    if (layout?.version !== 1) throw new Error('expected v1');
    expect(layout.hierarchies.get('cpu')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.hierarchies.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.hierarchies.get('pids')).toBe('/sys/fs/cgroup/my pids');
  });

  it('finds nothing on a host without cgroups', () => {
    expect(layoutFromMounts(parseCgroupMounts('22 1 0:5 / /proc rw - proc proc rw'))).toBeUndefined();
  });
});
