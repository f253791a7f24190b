import { afterAll, describe, expect, it } from 'vitest';
import { runDriverConformance } from '../conformance.js';
import { Harness } from '../conformance/harness.js';
import { workspaceDiskUnsupported } from '../disk/index.js';
import { GvisorDriver } from './gvisor-driver.js';
import { gvisorProcesses, makeGvisorDriver, skip } from './testing.js';

runDriverConformance({ name: 'gvisor', create: makeGvisorDriver, skip });

describe.skipIf(skip !== false)(`gvisor driver specifics${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });

  it('passes its own host check (runsc present, a real ptrace sandbox starts)', async () => {
    const dut = await makeGvisorDriver();
    disposers.push(() => dut.cleanup());
    expect(await dut.driver.check()).toEqual([]);
    expect(dut.driver.capabilities).toMatchObject({
      diskLimit: workspaceDiskUnsupported() === undefined,
      memoryLimitScope: 'sandbox',
      survivesRestart: true,
    });
  });

  it('runs the guest under gVisor’s kernel, not the host’s', async () => {
    const dut = await makeGvisorDriver();
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const p = await h.probe(`await report({ version: tryDo(() => fs.readFileSync('/proc/version', 'utf8')) });`);
    // gVisor's procfs reports its own kernel; the host's /proc/version never names gVisor.
    expect(String((await p.next()).version)).not.toBe(
      await import('node:fs/promises').then((f) => f.readFile('/proc/version', 'utf8')),
    );
  });

  it('is re-adopted by a new driver instance (berthd restart): listed, uid kept reserved, destroyed', async () => {
    const dut = await makeGvisorDriver();
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await p.next();
    const restarted = new GvisorDriver(dut.opts);
    expect(await restarted.inspect(p.info.id)).toMatchObject({ status: 'running', hostUid: p.info.hostUid });
    const h2 = await Harness.start(restarted, dut.installDir);
    disposers.push(() => h2.close());
    const q = await h2.probe(`await report({ up: 1 });`);
    expect(q.info.hostUid).not.toBe(p.info.hostUid);
    expect((await gvisorProcesses(p.info)).length).toBeGreaterThan(0);
    await restarted.destroy(p.info.id);
    expect(await gvisorProcesses(p.info)).toEqual([]);
    expect(await dut.driver.inspect(p.info.id)).toBeUndefined();
  });
});
