import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';

/** Resource limits, each skipped (with the reason) when the driver does not declare the capability. */
export function limitTests(ctx: SuiteContext): void {
  it('kills a process that allocates past memoryMib and leaves another sandbox alone', async ({ skip }) => {
    if (!ctx.dut.driver.capabilities.memoryLimit) skip('driver declares memoryLimit=false');
    const bystander = await ctx.h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await bystander.next();
    const hog = 'const a=[];for(;;){const b=Buffer.alloc(16<<20);b.fill(7);a.push(b)}';
    const p = await ctx.h.probe(
      `const r = cp.spawnSync(process.execPath, ['-e', ${JSON.stringify(hog)}], { stdio: 'ignore' });
       await report({ status: r.status, signal: r.signal });`,
      { resources: { memoryMib: 160 } },
    );
    expect(await p.next(60_000)).toEqual({ status: null, signal: 'SIGKILL' });
    expect((await ctx.dut.driver.inspect(bystander.info.id))?.status).toBe('running');
  });

  it('stops a spawn loop at the pids limit without harming the host', async ({ skip }) => {
    if (!ctx.dut.driver.capabilities.pidsLimit) skip('driver declares pidsLimit=false');
    const p = await ctx.h.probe(
      `let started = 0, error = null;
       for (let i = 0; i < 400 && error === null; i++) {
         try {
           const c = cp.spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
           c.on('error', (e) => { error = error || e.code; });
           if (c.pid) started++;
         } catch (e) { error = e.code; }
         await new Promise((r) => setImmediate(r));
       }
       await report({ started, error });
       setInterval(() => {}, 1000);`,
      { resources: { pids: 64 } },
    );
    const m = await p.next(60_000);
    expect(m.error).toBe('EAGAIN');
    expect(m.started as number).toBeLessThan(64);
    expect((await ctx.dut.driver.stats(p.info.id))?.pids).toBeLessThanOrEqual(64);
    await expect(promisify(execFile)('/bin/true')).resolves.toBeDefined();
  });

  it('accepts a CPU quota it declares it can enforce', async ({ skip }) => {
    if (!ctx.dut.driver.capabilities.cpuLimit) skip('driver declares cpuLimit=false');
    const p = await ctx.h.probe(`await report({ ok: 1 });`, { resources: { cpus: 0.5 } });
    expect(await p.next()).toEqual({ ok: 1 });
  });
}
