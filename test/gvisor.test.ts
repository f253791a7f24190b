import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, testUidBase, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

const scenarios = [
  {
    name: 'gvisor-core',
    turns: [
      {
        content: [
          {
            type: 'tool_use',
            name: 'Write',
            input: { file_path: '/workspace/hello.sh', content: 'echo "hi from $(cat /proc/version)"\n' },
          },
        ],
      },
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'sh /workspace/hello.sh' } }] },
      { content: [{ type: 'text', text: 'Done.' }] },
    ],
  },
];

/** Why the gVisor end-to-end test cannot run here, or false. */
function skipReason(): string | false {
  const e2e = e2eSkipReason();
  if (e2e !== false) return e2e;
  return existsSync('/usr/bin/runsc') || existsSync('/usr/local/bin/runsc')
    ? false
    : 'runsc not installed: apt-get install runsc (scripts/setup.sh --test does)';
}

const reason = skipReason();

describe.skipIf(reason !== false)(`sessions on the gVisor driver${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios,
      config: {
        drivers: ['bwrap', 'gvisor'],
        gvisorUidRangeStart: testUidBase() + 600_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16,
      },
    });
  });
  afterAll(async () => t?.close());

  it('runs a session turn in a gVisor sandbox chosen by the environment, and the events arrive', async () => {
    const { client } = t;
    const agent = await client.beta.agents.create({
      name: 'g',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (await client.post('/v1/environments', {
      body: { name: 'gvisor', config: { type: 'cloud' }, berth: { driver: 'gvisor', resources: { pids: 256 } } },
    })) as { id: string; berth: { driver: string } };
    expect(env.berth.driver).toBe('gvisor');
    const session = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    const events = (await collectTurn(
      client,
      session.id,
      () => say(client, session.id, '[scenario:gvisor-core] go'),
      120_000,
    )) as Ev[];
    const result = events.find((e) => e.type === 'agent.tool_result' && JSON.stringify(e.content).includes('hi from'));
    // The guest's kernel is gVisor's (its /proc/version is not the host's).
    expect(result).toBeDefined();
    const host = execFileSync('cat', ['/proc/version'], { encoding: 'utf8' }).trim();
    expect(JSON.stringify(result?.content)).not.toContain(host);
    expect(events.some((e) => e.type === 'agent.message' && JSON.stringify(e.content).includes('Done.'))).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    const s = (await client.beta.sessions.retrieve(session.id)) as unknown as {
      berth: { driver: string; sandbox: { id: string } };
    };
    expect(s.berth.driver).toBe('gvisor');
    const gvisor = t.app.drivers.get('gvisor')!;
    expect(await gvisor.inspect(s.berth.sandbox.id)).toMatchObject({ driver: 'gvisor', status: 'running' });
    expect(await t.app.driver.inspect(s.berth.sandbox.id)).toBeUndefined();
    await client.beta.sessions.delete(session.id);
    expect(await gvisor.inspect(s.berth.sandbox.id)).toBeUndefined();
  });

  it('refuses a driver that is not enabled, and a disk quota gVisor cannot enforce', async () => {
    const err = (await t.client
      .post('/v1/environments', { body: { name: 'x', berth: { driver: 'firecracker' } } })
      .catch((e: unknown) => e)) as { status: number; error: { error: { message: string; details: object } } };
    expect(err.status).toBe(400);
    expect(err.error.error.details).toEqual({ error_code: 'unsupported_feature' });
    expect(err.error.error.message).toMatch(/'firecracker' is not enabled.*\(enabled: bwrap, gvisor\)/);
    await expect(
      t.client.post('/v1/environments', {
        body: { name: 'x', berth: { driver: 'gvisor', resources: { disk_mib: 100 } } },
      }),
    ).rejects.toMatchObject({ status: 400, error: { error: { details: { error_code: 'unsupported_feature' } } } });
  });
});
