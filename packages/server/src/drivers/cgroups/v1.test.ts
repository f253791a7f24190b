import { randomBytes } from 'node:crypto';
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { detectCgroupLayout, type V1Controller } from './detect.js';
import { alive, exitOf, spawnInGroup } from './testing.js';
import { CgroupV1Manager, type CgroupV1 } from './v1.js';
import { CgroupError, CgroupLimitUnsupportedError } from './types.js';

const layout = await detectCgroupLayout();
const skip =
  process.getuid?.() !== 0
    ? 'needs root to create cgroups'
    : layout?.version !== 1
      ? 'this host has no cgroup v1 hierarchies'
      : false;
const parent = `berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;

describe.skipIf(skip !== false)(`cgroup v1 manager${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const hierarchies = layout?.version === 1 ? layout.hierarchies : new Map<V1Controller, string>();
  const manager = new CgroupV1Manager({ hierarchies, parent });
  const groups: CgroupV1[] = [];
  const make = async (limits = {}) => {
    const g = (await manager.create(`g${groups.length}`, limits)) as CgroupV1;
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
    for (const mount of new Set(hierarchies.values())) await rmdir(join(mount, parent)).catch(() => undefined);
  });

  it('creates a group in every hierarchy and writes the limits', async () => {
    const g = await make({ memoryMib: 64, pids: 20, cpus: 0.5 });
    const read = (c: 'memory' | 'pids' | 'cpu', f: string) => readFile(join(g.dirOf.get(c)!, f), 'utf8');
    expect(Number(await read('memory', 'memory.limit_in_bytes'))).toBe(64 * 1024 * 1024);
    expect((await read('pids', 'pids.max')).trim()).toBe('20');
    expect((await read('cpu', 'cpu.cfs_quota_us')).trim()).toBe('50000');
    expect(await read('memory', 'memory.oom_control')).toMatch(/oom_kill_disable 0/);
    const memsw = await read('memory', 'memory.memsw.limit_in_bytes').catch(() => undefined);
    if (memsw !== undefined) expect(Number(memsw)).toBe(64 * 1024 * 1024);
    expect(g.dirs.length).toBe(new Set(hierarchies.values()).size);
  });

  it('refuses a duplicate name and bad input', async () => {
    await make();
    await expect(manager.create('g0', {})).rejects.toThrow(/already exists/);
    await expect(manager.create('../escape', {})).rejects.toThrow(CgroupError);
    await expect(manager.create('x', { memoryMib: -1 })).rejects.toThrow(/memoryMib/);
  });

  it('refuses a limit whose hierarchy is not mounted', async () => {
    const m = new CgroupV1Manager({ hierarchies: new Map([...hierarchies].filter(([c]) => c !== 'cpu')), parent });
    await expect(m.create('nocpu', { cpus: 1 })).rejects.toThrow(CgroupLimitUnsupportedError);
  });

  it('tracks processes, reports usage and kills double-forked, setsid()ed descendants', async () => {
    const g = await make();
    const child = await spawnInGroup(g, ['/bin/sh', '-c', 'setsid sleep 300 & (sleep 300 &) ; exec sleep 300']);
    for (let i = 0; i < 100 && (await g.pids()).length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const pids = await g.pids();
    expect(pids.length).toBeGreaterThanOrEqual(3);
    expect(pids).toContain(child.pid);
    const stats = await g.stats();
    expect(stats.pids).toBeGreaterThanOrEqual(3);
    expect(stats.memoryBytes).toBeGreaterThan(0);
    expect(stats.cpuUsageUsec).toBeGreaterThanOrEqual(0);
    await g.killAll(5000);
    expect(await g.pids()).toEqual([]);
    for (const pid of pids) expect(await alive(pid)).toBe(false);
    expect((await exitOf(child)).signal).toBe('SIGKILL');
    await g.remove();
    expect(await g.exists()).toBe(false);
    await g.remove();
    await g.killAll();
  });

  it('OOM-kills a process that allocates past the memory limit and reports it', async () => {
    const g = await make({ memoryMib: 48 });
    const hog = 'const a=[];for(;;){const b=Buffer.alloc(8<<20);b.fill(1);a.push(b)}';
    const child = await spawnInGroup(g, [process.execPath, '-e', hog]);
    expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await g.oomKills()).toBeGreaterThan(0);
  });

  it('stops a fork loop at pids.max', async () => {
    const g = await make({ pids: 8 });
    const script = 'n=0; while [ $n -lt 30 ]; do sleep 30 & n=$((n+1)); done; wait';
    const child = await spawnInGroup(g, ['/bin/sh', '-c', script]);
    child.stderr?.resume();
    for (let i = 0; i < 100 && (await g.pids()).length < 8; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect((await g.stats()).pids).toBeLessThanOrEqual(8);
    await g.killAll(5000);
  });
});
