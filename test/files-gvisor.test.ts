import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { toFile } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gvisorTestConfig, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };
const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });

const scenarios = [
  {
    name: 'gvisor-file',
    turns: [
      bash('cat /mnt/in/data.txt'),
      bash('echo x > /mnt/in/data.txt; echo "write=$?"; rm -f /mnt/in/data.txt; echo "rm=$?"'),
      { content: [{ type: 'text', text: 'Done.' }] },
    ],
  },
];

function skipReason(): string | false {
  const e2e = e2eSkipReason();
  if (e2e !== false) return e2e;
  return existsSync('/usr/bin/runsc') || existsSync('/usr/local/bin/runsc') ? false : 'runsc not installed';
}
const reason = skipReason();

describe.skipIf(reason !== false)(`files on the gVisor driver${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios,
      config: {
        ...gvisorTestConfig(610_000),
      },
    });
  });
  afterAll(async () => t?.close());

  it('mounts a file resource read-only in a gVisor sandbox; the workspace route works on its quota disk', async () => {
    const { client } = t;
    const marker = `gvisor-file-${Date.now()}`;
    const file = await client.beta.files.upload({ file: await toFile(Buffer.from(`${marker}\n`), 'data.txt') });
    const agent = await client.beta.agents.create({
      name: 'g',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (await client.post('/v1/environments', {
      body: { name: 'gvisor-files', berth: { driver: 'gvisor', resources: { disk_mib: 64 } } },
    })) as { id: string };
    const session = await client.beta.sessions.create({
      agent: agent.id,
      environment_id: env.id,
      resources: [{ type: 'file', file_id: file.id, mount_path: '/mnt/in/data.txt' }],
    });
    const events = (await collectTurn(
      client,
      session.id,
      () => say(client, session.id, '[scenario:gvisor-file] go'),
      120_000,
    )) as Ev[];
    const results = events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(results[0]).toContain(marker);
    expect(results[1]).toMatch(/write=[1-9]/);
    expect(results[1]).toMatch(/rm=[1-9]/);

    const headers = { 'x-api-key': t.app.adminKey, 'content-type': 'application/octet-stream' };
    const base = `${t.app.url}/v1/berth/sessions/${session.id}/files`;
    const put = await fetch(`${base}/content?path=out/report.txt`, { method: 'PUT', headers, body: 'report\n' });
    expect(put.status).toBe(200);
    const s = (await client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const info = await t.app.drivers.get('gvisor')!.inspect(s.berth.sandbox.id);
    expect(statSync(join(info!.workspaceDir, 'out', 'report.txt')).uid).toBe(info!.hostUid);
    expect(await (await fetch(`${base}/content?path=out/report.txt`, { headers })).text()).toBe('report\n');
    // More than the 64 MiB disk holds: the quota answers, as 413 workspace_full, and no partial file stays.
    const full = await fetch(`${base}/content?path=big.bin`, {
      method: 'PUT',
      headers,
      body: Buffer.alloc(80 * 1048576),
    });
    expect(full.status).toBe(413);
    expect(((await full.json()) as { error: { details: { error_code: string } } }).error.details.error_code).toBe(
      'workspace_full',
    );
    const ls = (await (await fetch(`${base}`, { headers })).json()) as { data: { path: string }[] };
    expect(ls.data.map((e) => e.path).sort()).toEqual(['out']);
    await client.beta.sessions.delete(session.id);
  }, 150_000);
});
