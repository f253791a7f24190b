import Anthropic from '@anthropic-ai/sdk';
import { pool, waitReady } from './load-session.js';
import { startBenchBerth } from './load-berth.js';
import { gcMemory } from './memory.js';

/**
 * Control-plane overhead per idle session (issue 5): the memory berthd's process holds for K sessions whose
 * sandboxes are ready and idle (heap and RSS after a full GC, minus the same before they were created), their
 * sandboxes' own memory (cgroups), and the CPU both spend per second while idle.
 */
export async function benchIdle(k: number): Promise<object[]> {
  const b = await startBenchBerth();
  const { app } = b;
  try {
    const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey, maxRetries: 0, timeout: 600_000 });
    const agent = await client.beta.agents.create({
      name: 'idle',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await client.beta.environments.create({ name: 'idle', config: { type: 'cloud' } });
    // One session first and gone again: module loading and first-use caches are not counted as per-session cost.
    const warm = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    await waitReady(client, warm.id, 120_000);
    await client.beta.sessions.delete(warm.id);
    await new Promise((r) => setTimeout(r, 2000));
    const before = await gcMemory();
    const boxes: Array<{ id: string; sandboxId: string }> = [];
    await pool(
      Array.from({ length: k }, (_, i) => i),
      6,
      async () => {
        const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
        boxes.push({ id: s.id, sandboxId: await waitReady(client, s.id, 120_000) });
      },
    );
    await new Promise((r) => setTimeout(r, 5000)); // let start-up settle
    const idle = await gcMemory();
    // Idle CPU over 10 s: this process and all sandboxes.
    const boxCpu = async () => {
      let usec = 0;
      let bytes = 0;
      for (const x of boxes) {
        const st = await app.driver.stats(x.sandboxId);
        usec += st?.cpuUsageUsec ?? 0;
        bytes += st?.memoryBytes ?? 0;
      }
      return { usec, bytes };
    };
    const c0 = { proc: process.cpuUsage(), box: await boxCpu() };
    await new Promise((r) => setTimeout(r, 10_000));
    const proc = process.cpuUsage(c0.proc);
    const box1 = await boxCpu();
    await pool(boxes, 6, async (x) => void (await client.beta.sessions.delete(x.id)));
    await new Promise((r) => setTimeout(r, 2000));
    const afterDelete = await gcMemory();
    const per = (a: number, z: number) => Math.round(((z - a) / k) * 1000) / 1000;
    const res = {
      id: 'idle',
      sessions: k,
      before,
      idle,
      afterDelete,
      perSession: {
        heapMib: per(before.heapMib, idle.heapMib),
        rssMib: per(before.rssMib, idle.rssMib),
        externalMib: per(before.externalMib, idle.externalMib),
        sandboxMib: Math.round((box1.bytes / k / 2 ** 20) * 10) / 10,
        idleCpuPctBerthd: Math.round(((proc.user + proc.system) / 10e6 / k) * 100 * 1000) / 1000,
        idleCpuPctSandbox: Math.round(((box1.usec - c0.box.usec) / 10e6 / k) * 100 * 1000) / 1000,
      },
    };
    console.log(
      `\nidle: ${k} ready, idle sessions` +
        `\n  berthd process after GC: heap ${before.heapMib} → ${idle.heapMib} MiB, rss ${before.rssMib} → ${idle.rssMib} MiB,` +
        ` external ${before.externalMib} → ${idle.externalMib} MiB; after deleting them: heap ${afterDelete.heapMib} MiB, rss ${afterDelete.rssMib} MiB` +
        `\n  per idle session: heap ${res.perSession.heapMib} MiB, rss ${res.perSession.rssMib} MiB in berthd;` +
        ` sandbox (cgroup) ${res.perSession.sandboxMib} MiB` +
        `\n  idle CPU per session: berthd ${res.perSession.idleCpuPctBerthd}% of a core, sandbox ${res.perSession.idleCpuPctSandbox}%`,
    );
    return [res];
  } finally {
    await b.close();
  }
}
