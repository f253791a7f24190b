import { execFile } from 'node:child_process';
import { access, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { cgroupDirsNamed, eventually, sandboxProcesses } from './host.js';

/** A cgroup control file's trimmed text, or undefined when this hierarchy has no such file. */
const control = (dir: string, file: string): Promise<string | undefined> =>
  readFile(join(dir, file), 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  );

/** Resource limits, each skipped (with the reason) when the driver does not declare the capability. */
export function limitTests(ctx: SuiteContext): void {
  it('kills a process that allocates past memoryMib and leaves another sandbox alone', async ({ skip }) => {
    if (!ctx.dut.driver.capabilities.memoryLimit) skip('driver declares memoryLimit=false');
    const bystander = await ctx.h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await bystander.next();
    const hog = 'const a=[];for(;;){const b=Buffer.alloc(16<<20);b.fill(7);a.push(b)}';
    if (ctx.dut.driver.capabilities.memoryLimitScope === 'sandbox') {
      // The driver declares that going over the limit ends the whole sandbox (gVisor): the sandbox must stop, its
      // neighbour must not.
      const p = await ctx.h.probe(
        `await report({ up: 1 }); cp.spawnSync(process.execPath, ['-e', ${JSON.stringify(hog)}]);
         await report({ survived: 1 }); setInterval(() => {}, 1000);`,
        { resources: { memoryMib: 256 } },
      );
      expect(await p.next()).toEqual({ up: 1 });
      const ended = await eventually(
        async () => (await ctx.dut.driver.inspect(p.info.id))?.status === 'exited',
        60_000,
      );
      expect(ended).toBe(true);
      if (ctx.dut.driver.oomKills) expect(await ctx.dut.driver.oomKills(p.info.id)).toBeGreaterThan(0);
      expect((await ctx.dut.driver.inspect(bystander.info.id))?.status).toBe('running');
      return;
    }
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

  it('has every process of the sandbox in the cgroup it reports, which carries the requested limits', async ({
    skip,
  }) => {
    const caps = ctx.dut.driver.capabilities;
    const resources = { ...(caps.memoryLimit && { memoryMib: 200 }), ...(caps.pidsLimit && { pids: 50 }) };
    const p = await ctx.h.probe(
      `for (let i = 0; i < 3; i++) cp.spawn('/bin/sleep', ['60'], { stdio: 'ignore', detached: i === 2 }).unref();
       await report({ up: 1 }); setInterval(() => {}, 1000);`,
      { resources },
    );
    if (p.info.cgroup === undefined) skip('driver reports no cgroup');
    await p.next();
    const dirs = await cgroupDirsNamed(p.info.cgroup!);
    expect(dirs.length).toBeGreaterThan(0);
    const procs = await sandboxProcesses(ctx.dut, p.info);
    expect(procs.length).toBeGreaterThanOrEqual(4); // bwrap (and its init), node, 3 × sleep
    for (const dir of dirs) {
      const members = (await control(dir, 'cgroup.procs'))!.split('\n').map(Number);
      for (const pid of procs) expect(members).toContain(pid);
      const memory = (await control(dir, 'memory.limit_in_bytes')) ?? (await control(dir, 'memory.max'));
      if (resources.memoryMib !== undefined && memory !== undefined) expect(memory).toBe(String(200 * 1024 * 1024));
      const pids = await control(dir, 'pids.max');
      if (resources.pids !== undefined && pids !== undefined)
        expect(pids).toBe(String(ctx.dut.hostPidsMax?.(50) ?? 50));
    }
  });

  it('stops writes past diskMib with ENOSPC in workspace and home alike, and keeps a kept workspace', async ({
    skip,
  }) => {
    if (!ctx.dut.driver.capabilities.diskLimit) skip('driver declares diskLimit=false');
    const p = await ctx.h.probe(
      `const fill = (path) => {
         const fd = fs.openSync(path, 'w'), mib = Buffer.alloc(1 << 20, 7);
         let n = 0, error = null;
         try { for (; n < 200; n++) fs.writeSync(fd, mib); } catch (e) { error = e.code; }
         fs.closeSync(fd);
         return { n, error };
       };
       const workspace = fill('/workspace/fill');
       const home = tryDo(() => fs.writeFileSync(process.env.HOME + '/more', Buffer.alloc(4 << 20)));
       fs.unlinkSync('/workspace/fill'); // freeing space works: the disk is usable again
       fs.writeFileSync('/workspace/result.txt', 'after');
       await report({ workspace, home });`,
      { resources: { diskMib: 64 } },
    );
    const m = await p.next(60_000);
    expect(m).toMatchObject({ workspace: { error: 'ENOSPC' }, home: 'error:ENOSPC' });
    expect((m.workspace as { n: number }).n).toBeGreaterThan(40);
    expect((m.workspace as { n: number }).n).toBeLessThan(64);
    // Seen from the host, the workspace is a filesystem of (at most) the quota, not the host's disk.
    const fs = await statfs(p.info.workspaceDir);
    expect(fs.blocks * fs.bsize).toBeLessThanOrEqual(64 * 1048576);
    await ctx.dut.driver.destroy(p.info.id, { keepWorkspace: true });
    expect(await readFile(join(p.info.workspaceDir, 'result.txt'), 'utf8')).toBe('after');
    await ctx.dut.driver.destroy(p.info.id);
    await expect(access(p.info.workspaceDir)).rejects.toThrow();
    expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(p.info.id)).toBe(false);
  });

  it('accepts a CPU quota it declares it can enforce', async ({ skip }) => {
    if (!ctx.dut.driver.capabilities.cpuLimit) skip('driver declares cpuLimit=false');
    const p = await ctx.h.probe(`await report({ ok: 1 });`, { resources: { cpus: 0.5 } });
    expect(await p.next()).toEqual({ ok: 1 });
  });
}
