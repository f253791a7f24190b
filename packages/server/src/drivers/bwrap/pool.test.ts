import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { alive } from '../cgroups/testing.js';
import { Harness } from '../conformance/harness.js';
import { cgroupDirsNamed, eventually, processesOfUid } from '../conformance/host.js';
import { BwrapDriver } from './bwrap-driver.js';
import { POOL_LAUNCH_SCRIPT, poolPayload } from './argv.js';
import { resolveBinary } from './host.js';
import { POOL_CGROUP_PREFIX } from './pool.js';
import { makeDriver, skip } from './testing.js';

const bash = await resolveBinary('bash');

describe.skipIf(bash === undefined)('pooled launcher script', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('takes the log path and the command verbatim, and leaves exactly the bwrap options on fd 3', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-pool-script-'));
    dirs.push(dir);
    const log = join(dir, 'runner.log');
    await writeFile(log, '');
    // Stands in for bwrap: prints the argv it was given, then what is left on fd 3.
    const fake = ['/bin/sh', '-c', 'for a; do printf "<%s>" "$a"; done; echo; tr "\\0" "|" <&3', 'fake-bwrap', '--x'];
    const child = spawn(bash!, ['-c', POOL_LAUNCH_SCRIPT, 'berth-launch', ...fake], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: {},
    });
    const command = ['/usr/bin/node', '-e', 'multi\nline', ' lead', '', '$(id) `id` *'];
    const sources = { install: '/i', run: '/r', workspace: '/w', home: '/h', passwd: '/p', group: '/g', extra: [] };
    (child.stdio[3] as Writable).end(poolPayload({ logFile: log, command, env: { K: 'v w' }, sources }));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    const out = await readFile(log, 'utf8');
    const cut = out.indexOf('\n--clearenv|');
    const [argvLine, rest] = [out.slice(0, cut), out.slice(cut + 1)];
    expect(argvLine).toBe(`<--x><--><${command.join('><')}>`);
    expect(rest).toMatch(
      /^--clearenv\|--setenv\|K\|v w\|--ro-bind\|\/p\|\/etc\/passwd\|.*--ro-bind\|\/i\|\/opt\/berth\|$/,
    );
  });

  it('exits 125 without running anything when berthd goes away before opening the gate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-pool-script-'));
    dirs.push(dir);
    const marker = join(dir, 'ran');
    // A short-lived parent stands in for berthd: it starts a pooled launcher the way launch() does (detached, the
    // gate on fd 3, unref'd) and exits, so the gate's only writer disappears with it.
    const parent = `
      const { spawn } = require('child_process');
      const c = spawn(process.argv[1], ['-c', process.argv[2], 'berth-launch', '/bin/touch', process.argv[3]],
        { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: {} });
      c.unref(); c.stdio[3].unref();
      process.stdout.write(String(c.pid));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', parent, bash!, POOL_LAUNCH_SCRIPT, marker]);
    const pid = Number(stdout);
    expect(pid).toBeGreaterThan(0);
    expect(await eventually(async () => !(await alive(pid)), 5000)).toBe(true);
    await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
  });
});

describe.skipIf(skip !== false)(`bwrap launcher pool${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });

  /** A driver with a pool of `size`, its harness, and the pool groups currently under its cgroup parent. */
  async function setup(size: number) {
    const dut = await makeDriver(true, {}, { launcherPool: size });
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const poolGroups = async (): Promise<string[]> =>
      (await dut.opts.cgroups!.groups()).filter((n) => n.startsWith(POOL_CGROUP_PREFIX));
    return { dut, h, poolGroups };
  }

  it('serves a create from a pre-placed launcher, and refills in the background', async () => {
    const { dut, h, poolGroups } = await setup(1);
    expect(await poolGroups()).toEqual([]); // lazily started: the constructor spawned nothing
    await dut.driver.warmUp();
    const [idle] = await poolGroups();
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`, {
      resources: { memoryMib: 200, pids: 50 },
    });
    expect(p.info.cgroup).toBe(idle);
    expect(await p.next()).toEqual({ up: 1 });
    const dirs = await cgroupDirsNamed(idle!);
    for (const dir of dirs) {
      const procs = (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
      for (const pid of await processesOfUid(p.info.hostUid)) expect(procs).toContain(pid);
    }
    expect(await eventually(async () => (await poolGroups()).length === 2)).toBe(true);
    expect((await dut.driver.stats(p.info.id))?.pids).toBeGreaterThan(0);
    await dut.driver.destroy(p.info.id);
    h.created.delete(p.info.id);
    expect(await cgroupDirsNamed(idle!)).toEqual([]);
    expect(await processesOfUid(p.info.hostUid)).toEqual([]);
  });

  it('falls back to the direct path for creates beyond the pool, all with distinct uids', async () => {
    const { dut, h } = await setup(1);
    await dut.driver.warmUp();
    const probes = await Promise.all(
      [0, 1, 2].map(() =>
        h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`, { resources: { pids: 40 } }),
      ),
    );
    for (const p of probes) expect(await p.next()).toEqual({ up: 1 });
    const pooled = probes.filter((p) => p.info.cgroup!.startsWith(POOL_CGROUP_PREFIX));
    expect(pooled).toHaveLength(1);
    for (const p of probes.filter((q) => !pooled.includes(q))) expect(p.info.cgroup).toBe(p.info.id);
    expect(new Set(probes.map((p) => p.info.hostUid)).size).toBe(3);
  });

  it('close() kills the idle launchers and removes their cgroups; sandboxes keep running', async () => {
    const { dut, h, poolGroups } = await setup(2);
    await dut.driver.warmUp();
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await p.next();
    await dut.driver.warmUp();
    const idle = (await poolGroups()).filter((n) => n !== p.info.cgroup);
    expect(idle).toHaveLength(2);
    const launchers = (await Promise.all(idle.map((n) => dut.opts.cgroups!.open(n).pids()))).flat();
    expect(launchers).toHaveLength(2);
    await dut.driver.close();
    for (const pid of launchers) expect(await alive(pid)).toBe(false);
    expect(await poolGroups()).toEqual(p.info.cgroup!.startsWith(POOL_CGROUP_PREFIX) ? [p.info.cgroup] : []);
    expect((await dut.driver.inspect(p.info.id))?.status).toBe('running');
  });

  it('close() during a refill waits for the launchers that finish starting meanwhile to be gone', async () => {
    const { dut, poolGroups } = await setup(2);
    const warming = dut.driver.warmUp();
    // The launchers are starting (their groups exist) when the close begins.
    expect(await eventually(async () => (await poolGroups()).length > 0, 5000)).toBe(true);
    await dut.driver.close();
    // Nothing is left the moment close resolves: berthd exits right after it.
    expect(await poolGroups()).toEqual([]);
    await warming.catch(() => undefined);
  });

  it('a new driver instance removes orphaned pool cgroups and leaves live ones alone', async () => {
    const { dut, poolGroups } = await setup(1);
    await dut.driver.warmUp();
    const [live] = await poolGroups();
    // What a crashed berthd leaves behind: its launchers exited at EOF, their (empty) groups remain.
    const orphan = `${POOL_CGROUP_PREFIX}${randomBytes(6).toString('hex')}`;
    await dut.opts.cgroups!.create(orphan, {});
    const restarted = new BwrapDriver(dut.opts);
    dut.others.push(restarted);
    await restarted.list();
    expect(await poolGroups()).toEqual([live]);
    expect(await cgroupDirsNamed(orphan)).toEqual([]);
  });
});
