import { existsSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { loopDevicesUnder, mountsUnder } from './procs.js';

type Ev = { id: string; type: string; [k: string]: unknown };

const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });

/** Loop devices whose backing file lies below `dir`, from sysfs. */

describe.skipIf(e2eSkipReason() !== false)('workspace disk quota, end to end', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [
        {
          name: 'fill',
          turns: [
            bash('dd if=/dev/zero of=/workspace/big bs=1M count=100; echo "dd exit=$?"; df -m /workspace | tail -1'),
            { content: [{ type: 'text', text: 'The disk is full.' }] },
            // The next user turn of the same conversation continues the scenario.
            bash('rm /workspace/big && echo freed > /workspace/note && cat /workspace/note'),
            { content: [{ type: 'text', text: 'Space freed.' }] },
          ],
        },
      ],
    });
  });
  afterAll(async () => t?.close());

  it('the server default applies and shows in berth.resources; a quota below 64 MiB is refused', async () => {
    const env = (await t.client.beta.environments.create({ name: 'defaults' })) as unknown as {
      berth: { resources: object };
    };
    expect(env.berth.resources).toMatchObject({ disk_mib: 5120 });
    await expect(
      t.client.post('/v1/environments', { body: { name: 'tiny', berth: { resources: { disk_mib: 16 } } } }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/disk_mib must be at least 64/) as unknown });
  });

  it('a command that fills the disk gets "No space left on device"; the session goes on; nothing is left', async () => {
    const env = (await t.client.post('/v1/environments', {
      body: { name: 'small-disk', berth: { resources: { disk_mib: 64 } } },
    })) as { id: string; berth: { resources: object } };
    expect(env.berth.resources).toMatchObject({ disk_mib: 64 });
    const agent = await t.client.beta.agents.create({
      name: 'd',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const session = await t.client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    expect((session as unknown as { berth: { resources: object } }).berth.resources).toMatchObject({ disk_mib: 64 });

    const fill = (await collectTurn(t.client, session.id, () =>
      say(t.client, session.id, '[scenario:fill] go'),
    )) as Ev[];
    const out = JSON.stringify(fill.find((e) => e.type === 'agent.tool_result')?.content);
    expect(out).toContain('No space left on device');
    expect(out).toMatch(/dd exit=1/);
    expect(fill.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    // The host gave the sandbox no more than its quota: the image holds at most 64 MiB of host disk.
    const s = (await t.client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const sandboxDir = join(t.dataDir, 'sandboxes', s.berth.sandbox.id);
    const info = await t.app.driver.inspect(s.berth.sandbox.id);
    const fs = statfsSync(info!.workspaceDir);
    expect(fs.blocks * fs.bsize).toBeLessThanOrEqual(64 * 1048576);
    expect(statSync(join(sandboxDir, 'disk.img')).blocks * 512).toBeLessThanOrEqual(64 * 1048576);

    const after = (await collectTurn(t.client, session.id, () => say(t.client, session.id, 'free it'))) as Ev[];
    expect(JSON.stringify(after.find((e) => e.type === 'agent.tool_result')?.content)).toContain('freed');
    expect(after.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    await t.client.beta.sessions.delete(session.id);
    expect(existsSync(sandboxDir)).toBe(false);
    expect(mountsUnder(sandboxDir)).toEqual([]);
    const deadline = Date.now() + 5000; // a loop device goes with the last user of its filesystem
    while (loopDevicesUnder(sandboxDir).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(loopDevicesUnder(sandboxDir)).toEqual([]);
  });
});
