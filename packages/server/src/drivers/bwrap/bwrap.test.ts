import { newId } from '@berth/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { runDriverConformance } from '../conformance.js';
import { Harness } from '../conformance/harness.js';
import { processesOfUid } from '../conformance/host.js';
import { BwrapDriver } from './bwrap-driver.js';
import { layout, makeDriver, skip } from './testing.js';

runDriverConformance({ name: 'bwrap', create: () => makeDriver(true), skip });
runDriverConformance({
  name: 'bwrap, staged (sandboxes and install dir below a 0700 directory)',
  create: () => makeDriver(false),
  skip,
});

// The cgroup v2 code path end to end: on a hybrid host the controller-less unified mount still tracks and kills
// (cgroup.kill); the driver then declares no limits, and the limit tests skip saying so.
const unified = layout?.version === 1 ? layout.unified : undefined;
runDriverConformance({
  name: `bwrap on cgroup v2 at ${unified ?? '(none)'}`,
  create: () => makeDriver(true, { v2Root: unified! }),
  skip: skip !== false ? skip : unified === undefined ? 'this host has no separate cgroup2 mount to test with' : false,
});

describe.skipIf(skip !== false)(`bwrap driver specifics${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });

  it('passes its own host check', async () => {
    const dut = await makeDriver(true);
    disposers.push(() => dut.cleanup());
    expect(await dut.driver.check()).toEqual([]);
    expect(dut.driver.capabilities).toMatchObject({ diskLimit: true, survivesRestart: true });
  });

  it('reports an OOM kill through the cgroup', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const hog = 'const a=[];for(;;){const b=Buffer.alloc(16<<20);b.fill(7);a.push(b)}';
    const p = await h.probe(
      `cp.spawnSync(process.execPath, ['-e', ${JSON.stringify(hog)}]); await report({ done: 1 });`,
      {
        resources: { memoryMib: 128 },
      },
    );
    await p.next(60_000);
    expect(await dut.driver.oomKills(p.info.id)).toBeGreaterThan(0);
  });

  it('is re-adopted by a new driver instance (berthd restart): listed, uid kept reserved, destroyed', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await p.next();
    const restarted = new BwrapDriver(dut.opts);
    dut.others.push(restarted);
    expect(await restarted.inspect(p.info.id)).toMatchObject({ status: 'running', hostUid: p.info.hostUid });
    const h2 = await Harness.start(restarted, dut.installDir);
    disposers.push(() => h2.close());
    const q = await h2.probe(`await report({ up: 1 });`);
    expect(q.info.hostUid).not.toBe(p.info.hostUid);
    await restarted.destroy(p.info.id);
    expect(await processesOfUid(p.info.hostUid)).toEqual([]);
    expect(await dut.driver.inspect(p.info.id)).toBeUndefined();
  });

  it('refuses an id whose directory already exists, without touching it', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const id = newId('sandbox');
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`, { id });
    await p.next();
    await expect(h.probe('', { id })).rejects.toThrow(/already exists/);
    expect((await dut.driver.inspect(id))?.status).toBe('running');
  });
});
