import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/** The limits the kernel holds for a cgroup, on v1 (this machine) or v2 hosts. */
function cgroupLimits(name: string): { memoryBytes: number; pids: number; cpus: number } {
  const v1 = existsSync('/sys/fs/cgroup/memory/berth');
  const read = (p: string) => readFileSync(p, 'utf8').trim();
  if (v1) {
    const quota = Number(read(`/sys/fs/cgroup/cpu/berth/${name}/cpu.cfs_quota_us`));
    const period = Number(read(`/sys/fs/cgroup/cpu/berth/${name}/cpu.cfs_period_us`));
    return {
      memoryBytes: Number(read(`/sys/fs/cgroup/memory/berth/${name}/memory.limit_in_bytes`)),
      pids: Number(read(`/sys/fs/cgroup/pids/berth/${name}/pids.max`)),
      cpus: quota / period,
    };
  }
  const [quota, period] = read(`/sys/fs/cgroup/berth/${name}/cpu.max`).split(' ').map(Number);
  return {
    memoryBytes: Number(read(`/sys/fs/cgroup/berth/${name}/memory.max`)),
    pids: Number(read(`/sys/fs/cgroup/berth/${name}/pids.max`)),
    cpus: quota! / period!,
  };
}

/** How many CFS periods the group was throttled in (cpu.stat nr_throttled, v1 and v2). */
function throttledPeriods(name: string): number {
  const file = existsSync('/sys/fs/cgroup/cpu/berth')
    ? `/sys/fs/cgroup/cpu/berth/${name}/cpu.stat`
    : `/sys/fs/cgroup/berth/${name}/cpu.stat`;
  return Number(/^nr_throttled (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
}

describe.skipIf(e2eSkipReason() !== false)('sandbox resource limits from the environment', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [
        {
          name: 'contained',
          turns: [
            {
              content: [
                {
                  type: 'tool_use',
                  name: 'Bash',
                  input: {
                    command:
                      "node -e \"const cp = require('child_process'); let ok = 0, failed = 0; for (let i = 0; i < 300; i++) { const c = cp.spawn('sleep', ['3'], { stdio: 'ignore' }); c.on('spawn', () => ok++); c.on('error', () => failed++); } setTimeout(() => console.log('spawned ' + ok + ' failed ' + failed), 1500)\"; timeout 2 sh -c \"while :; do :; done\"; echo spun",
                  },
                },
              ],
            },
            { content: [{ type: 'text', text: 'Contained.' }] },
          ],
        },
        {
          name: 'hog',
          turns: [
            {
              content: [
                {
                  type: 'tool_use',
                  name: 'Bash',
                  input: {
                    command: 'node -e "const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1))"; echo "exit=$?"',
                  },
                },
              ],
            },
            { content: [{ type: 'text', text: 'The hog was stopped.' }] },
          ],
        },
      ],
    });
  });
  afterAll(async () => t?.close());

  async function agent() {
    const a = await t.client.beta.agents.create({
      name: 'r',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    return a.id;
  }

  it('fills in the server defaults and refuses limits the driver cannot enforce, storing nothing', async () => {
    const env = (await t.client.beta.environments.create({ name: 'defaults' })) as unknown as {
      berth: { resources: object };
    };
    expect(env.berth.resources).toEqual({ memory_mib: 1024, cpus: 1, pids: 512, disk_mib: 5120 });
    const before = (await t.client.beta.environments.list({ limit: 100 })).data.length;
    await expect(
      t.client.post('/v1/environments', { body: { name: 'disk', berth: { resources: { disk_mib: 2_000_000 } } } }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      t.client.post('/v1/environments', { body: { name: 'tiny', berth: { resources: { memory_mib: 1 } } } }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await t.client.beta.environments.list({ limit: 100 })).data.length).toBe(before);
  });

  it("lets a session override its environment's limits field by field (berth.resources on create)", async () => {
    const env = (await t.client.post('/v1/environments', {
      body: { name: 'base', berth: { resources: { memory_mib: 700, cpus: 0.5 } } },
    })) as { id: string };
    const agentId = await agent();
    const s = (await t.client.post('/v1/sessions', {
      body: { agent: agentId, environment_id: env.id, berth: { resources: { pids: 128 } } },
    })) as { id: string; berth: { resources: object } };
    expect(s.berth.resources).toEqual({ memory_mib: 700, cpus: 0.5, pids: 128, disk_mib: 5120 });
    const before = (await t.client.beta.sessions.list({ limit: 100 })).data.length;
    await expect(
      t.client.post('/v1/sessions', {
        body: { agent: agentId, environment_id: env.id, berth: { resources: { disk_mib: 10 } } },
      }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await t.client.beta.sessions.list({ limit: 100 })).data.length).toBe(before);
    await t.client.beta.sessions.delete(s.id);
  });

  it('contains a fork bomb at the pids limit and throttles a CPU spin to its share', async () => {
    const env = (await t.client.post('/v1/environments', {
      body: { name: 'tight', berth: { resources: { pids: 64, cpus: 0.2 } } },
    })) as { id: string };
    const session = await t.client.beta.sessions.create({ agent: await agent(), environment_id: env.id });
    const events = (await collectTurn(t.client, session.id, () =>
      say(t.client, session.id, '[scenario:contained] go'),
    )) as Ev[];
    const out = JSON.stringify(events.find((e) => e.type === 'agent.tool_result')?.content);
    const m = /spawned (\d+) failed (\d+)/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThan(64);
    expect(out).toContain('spun');
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    const s = (await t.client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const info = await t.app.driver.inspect(s.berth.sandbox.id);
    expect(throttledPeriods(info!.cgroup!)).toBeGreaterThan(0);
    await t.client.beta.sessions.delete(session.id);
  });

  it("enforces the environment's limits in the sandbox's cgroup and kills a memory hog, not the session", async () => {
    const env = (await t.client.post('/v1/environments', {
      body: { name: 'limited', berth: { resources: { memory_mib: 800, cpus: 0.5, pids: 256 } } },
    })) as { id: string };
    const session = await t.client.beta.sessions.create({ agent: await agent(), environment_id: env.id });
    expect((session as unknown as { berth: { resources: object } }).berth.resources).toEqual({
      memory_mib: 800,
      cpus: 0.5,
      pids: 256,
      disk_mib: 5120,
    });

    const events = (await collectTurn(t.client, session.id, () =>
      say(t.client, session.id, '[scenario:hog] allocate'),
    )) as Ev[];
    const result = events.find((e) => e.type === 'agent.tool_result');
    expect(JSON.stringify(result?.content)).toMatch(/exit=137|Killed/);
    // The session is told which limit killed the process, after the tool's result; the turn goes on.
    const oom = events.findIndex((e) => e.type === 'session.error');
    expect(oom).toBeGreaterThan(events.indexOf(result!));
    expect(events[oom]!.error).toMatchObject({ type: 'unknown_error', retry_status: { type: 'retrying' } });
    expect(String((events[oom]!.error as { message: string }).message)).toMatch(/memory limit of 800 MiB/);
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    const sandboxId = (await t.client.beta.sessions.retrieve(session.id)) as unknown as {
      berth: { sandbox: { id: string } };
    };
    const info = await t.app.driver.inspect(sandboxId.berth.sandbox.id);
    expect(cgroupLimits(info!.cgroup!)).toEqual({ memoryBytes: 800 * 1024 * 1024, pids: 256, cpus: 0.5 });
    await t.client.beta.sessions.delete(session.id);
  });
});
