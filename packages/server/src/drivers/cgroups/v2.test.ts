import { randomBytes } from 'node:crypto';
import { rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { detectCgroupLayout } from './detect.js';
import { alive, exitOf, spawnInGroup } from './testing.js';
import { CgroupV2Manager, type CgroupV2 } from './v2.js';
import { CgroupLimitUnsupportedError } from './types.js';

// On a pure v2 host the real hierarchy is used; on a hybrid host (like the CI machines) the controller-less
// /sys/fs/cgroup/unified mount still exercises group creation, process tracking and cgroup.kill.
const layout = await detectCgroupLayout();
const root = layout?.version === 2 ? layout.root : layout?.unified;
const skip =
  process.getuid?.() !== 0
    ? 'needs root to create cgroups'
    : root === undefined
      ? 'no cgroup2 mount on this host'
      : await stat(join(root, 'cgroup.procs')).then(
          () => false as const,
          () => 'the cgroup2 mount has no cgroup.procs',
        );
const parent = `berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;

describe.skipIf(skip !== false)(`cgroup v2 manager at ${root}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
  const manager = skip === false ? await CgroupV2Manager.init({ root: root!, parent }) : undefined;
  const groups: CgroupV2[] = [];
  const make = async (name: string) => {
    const g = (await manager!.create(name, {})) as CgroupV2;
    groups.push(g);
    return g;
  };
  afterEach(async () => {
    for (const g of groups.splice(0)) {
      await g.killAll(5000).catch(() => undefined);
      await g.remove().catch(() => undefined);
    }
  });
  afterAll(async () => {
    await rmdir(join(root!, parent)).catch(() => undefined);
  });

  it('tracks processes and kills the whole group, setsid()ed descendants included, with cgroup.kill', async () => {
    const g = await make('track');
    const child = await spawnInGroup(g, ['/bin/sh', '-c', 'setsid sleep 300 & (sleep 300 &) ; exec sleep 300']);
    for (let i = 0; i < 100 && (await g.pids()).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const pids = await g.pids();
    expect(pids.length).toBeGreaterThanOrEqual(3);
    expect((await g.stats()).cpuUsageUsec).toBeGreaterThanOrEqual(0);
    await g.killAll(5000);
    expect(await g.pids()).toEqual([]);
    for (const pid of pids) expect(await alive(pid)).toBe(false);
    expect((await exitOf(child)).signal).toBe('SIGKILL');
    await g.remove();
    expect(await g.exists()).toBe(false);
    await g.remove();
  });

  it('refuses every limit whose controller this hierarchy does not offer, naming it', async () => {
    for (const [limit, controller] of [
      [{ memoryMib: 64 }, 'memory'],
      [{ cpus: 1 }, 'cpu'],
      [{ pids: 10 }, 'pids'],
    ] as const) {
      if (manager!.enforceable.has(controller)) continue;
      const err = await manager!.create(`limit-${controller}`, limit).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CgroupLimitUnsupportedError);
      expect((err as Error).message).toContain(controller);
      expect(await manager!.open(`limit-${controller}`).exists()).toBe(false);
    }
  });

  const noControllers = manager !== undefined && manager.enforceable.size < 3;
  it.skipIf(noControllers)(
    `enforces memory, pids and cpu limits${noControllers ? ' (skipped: this cgroup2 mount has no memory/pids/cpu controllers)' : ''}`,
    async () => {
      const g = (await manager!.create('limits', { memoryMib: 48, pids: 16, cpus: 0.5 })) as CgroupV2;
      groups.push(g);
      const hog = 'const a=[];for(;;){const b=Buffer.alloc(8<<20);b.fill(1);a.push(b)}';
      const child = await spawnInGroup(g, [process.execPath, '-e', hog]);
      expect((await exitOf(child)).signal).toBe('SIGKILL');
      expect(await g.oomKills()).toBeGreaterThan(0);
    },
  );
});
