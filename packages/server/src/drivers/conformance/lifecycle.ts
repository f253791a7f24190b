import { access, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { newId } from '@berth/protocol';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { cgroupDirsNamed, eventually, mountsMentioning, sandboxProcesses } from './host.js';

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** create/inspect/list/stats/destroy, and that destroy leaves nothing behind. */
export function lifecycleTests(ctx: SuiteContext): void {
  it('lists, inspects and reports stats of a running sandbox, then sees it exit', async () => {
    const p = await ctx.h.probe(`await report({ pid: process.pid }); await new Promise((r) => setTimeout(r, 300));`);
    expect(p.info).toMatchObject({ driver: ctx.dut.driver.name, status: 'running' });
    await p.next();
    expect((await ctx.dut.driver.list()).map((s) => s.id)).toContain(p.info.id);
    const stats = await ctx.dut.driver.stats(p.info.id);
    expect(stats?.pids).toBeGreaterThan(0);
    expect(await eventually(async () => (await ctx.dut.driver.inspect(p.info.id))?.status === 'exited')).toBe(true);
    expect(await ctx.dut.driver.inspect(p.info.id)).toMatchObject({ id: p.info.id, hostUid: p.info.hostUid });
    expect(await ctx.dut.driver.inspect(newId('sandbox'))).toBeUndefined();
    expect(await ctx.dut.driver.stats(newId('sandbox'))).toBeUndefined();
  });

  it('destroy kills processes that double-forked and setsid()ed away, and leaves nothing behind', async () => {
    const p = await ctx.h.probe(`
      cp.spawn('/bin/sh', ['-c', 'setsid sh -c "sleep 1000 & sleep 1000" & (sleep 1000 &); sleep 1000'], { detached: true, stdio: 'ignore' }).unref();
      await new Promise((r) => setTimeout(r, 300));
      fs.writeFileSync('/workspace/artifact', 'a');
      await report({ ok: 1 });
      setInterval(() => {}, 1000);
    `);
    await p.next();
    const { id, workspaceDir, homeDir, logFile } = p.info;
    expect((await sandboxProcesses(ctx.dut, p.info)).length).toBeGreaterThanOrEqual(5);
    await ctx.dut.driver.destroy(id);
    ctx.h.created.delete(id);
    expect(await sandboxProcesses(ctx.dut, p.info)).toEqual([]);
    expect(await cgroupDirsNamed(id)).toEqual([]);
    if (p.info.cgroup !== undefined) expect(await cgroupDirsNamed(p.info.cgroup)).toEqual([]);
    expect(await mountsMentioning(id)).toEqual([]);
    expect(await mountsMentioning(dirname(workspaceDir))).toEqual([]);
    for (const path of [workspaceDir, homeDir, logFile]) expect(await exists(path)).toBe(false);
    expect(await ctx.dut.driver.inspect(id)).toBeUndefined();
    expect((await ctx.dut.driver.list()).map((s) => s.id)).not.toContain(id);
    await ctx.dut.driver.destroy(id); // twice is fine
    await ctx.dut.driver.destroy(newId('sandbox')); // unknown is fine
    await ctx.dut.driver.destroy('not-a-sandbox-id');
  });

  it('keeps the workspace when asked, and removes it on a later plain destroy', async () => {
    const p = await ctx.h.probe(`fs.writeFileSync('/workspace/result.txt', 'done'); await report({ ok: 1 });`);
    await p.next();
    await ctx.dut.driver.destroy(p.info.id, { keepWorkspace: true });
    expect(await readFile(join(p.info.workspaceDir, 'result.txt'), 'utf8')).toBe('done');
    expect(await exists(p.info.homeDir)).toBe(false);
    expect(await sandboxProcesses(ctx.dut, p.info)).toEqual([]);
    expect(await cgroupDirsNamed(p.info.id)).toEqual([]);
    if (p.info.cgroup !== undefined) expect(await cgroupDirsNamed(p.info.cgroup)).toEqual([]);
    expect(await ctx.dut.driver.inspect(p.info.id)).toBeUndefined();
    await ctx.dut.driver.destroy(p.info.id);
    expect(await exists(p.info.workspaceDir)).toBe(false);
  });

  it('reaches berthd through the socket in /run/berth, which it cannot replace', async () => {
    const p = await ctx.h.probe(
      `await report({ hello: 'over the control socket', entries: fs.readdirSync('/run/berth') });`,
    );
    expect(await p.next()).toEqual({ hello: 'over the control socket', entries: ['control.sock'] });
  });

  it('refuses a bad spec and a resource it cannot enforce, leaving nothing behind', async () => {
    const { driver } = ctx.dut;
    const base = { command: ['/bin/true'], env: {}, runDir: ctx.h.root, installDir: ctx.dut.installDir, resources: {} };
    await expect(driver.create({ ...base, id: 'sandbox-1' })).rejects.toThrow(/sandbox id/);
    await expect(driver.create({ ...base, id: newId('sandbox'), runDir: 'relative/dir' })).rejects.toThrow(/absolute/);
    await expect(driver.create({ ...base, id: newId('sandbox'), command: [] })).rejects.toThrow(/command/);
    // Every limit the driver says it cannot enforce is refused by name, and the refusal leaves no trace.
    const caps = driver.capabilities;
    const refusable = [
      [caps.diskLimit, { diskMib: 100 }, /diskMib/],
      [caps.memoryLimit, { memoryMib: 256 }, /memoryMib/],
      [caps.cpuLimit, { cpus: 1 }, /cpus/],
      [caps.pidsLimit, { pids: 100 }, /pids/],
    ] as const;
    for (const [can, resources, name] of refusable) {
      if (can) continue;
      const id = newId('sandbox');
      await expect(driver.create({ ...base, id, resources })).rejects.toThrow(name);
      expect(await driver.inspect(id)).toBeUndefined();
      expect(await cgroupDirsNamed(id)).toEqual([]);
    }
  });
}
