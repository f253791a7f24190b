import { existsSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, gvisorTestConfig, say, startTestBerth, type TestBerth } from './harness.js';
import { loopback, previewFetch } from './preview-client.js';

const SERVER = readFileSync(new URL('./fixtures/preview-server.js', import.meta.url), 'utf8');
const scenarios = [
  {
    name: 'gvisor-serve',
    turns: [
      {
        content: [{ type: 'tool_use', name: 'Write', input: { file_path: '/workspace/server.cjs', content: SERVER } }],
      },
      {
        content: [
          {
            type: 'tool_use',
            name: 'Bash',
            input: {
              command:
                "mkdir -p /workspace/site && echo '<h1>from gVisor</h1>' > /workspace/site/index.html && " +
                '(setsid nohup node /workspace/server.cjs 8080 > /workspace/server.log 2>&1 &) ; ' +
                'for i in $(seq 300); do grep -q listening /workspace/server.log 2>/dev/null && break; sleep 0.1; done; ' +
                'cat /workspace/server.log',
            },
          },
        ],
      },
      { content: [{ type: 'text', text: 'Serving.' }] },
    ],
  },
];

function skipReason(): string | false {
  const e2e = e2eSkipReason();
  if (e2e !== false) return e2e;
  return existsSync('/usr/bin/runsc') || existsSync('/usr/local/bin/runsc') ? false : 'runsc not installed';
}
const reason = skipReason();

describe.skipIf(reason !== false)(`port previews on the gVisor driver${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios, config: { ...gvisorTestConfig(630_000), previewPort: 0 } });
  });
  afterAll(async () => t?.close());

  it('serves HTTP and WebSocket from a gVisor sandbox through the tunnel socket', async () => {
    const { client } = t;
    const agent = await client.beta.agents.create({
      name: 'g',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (await client.post('/v1/environments', {
      body: { name: 'gvisor-previews', berth: { driver: 'gvisor' } },
    })) as { id: string };
    const session = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    await collectTurn(client, session.id, () => say(client, session.id, '[scenario:gvisor-serve] go'), 90_000);
    const post = (port: number) =>
      fetch(`${t.app.url}/v1/berth/sessions/${session.id}/previews`, {
        method: 'POST',
        headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
        body: JSON.stringify({ port }),
      });
    const closed = await post(9);
    expect(closed.status).toBe(409);
    const res = await post(8080);
    expect(res.status).toBe(200);
    const p = (await res.json()) as { url: string; token: string };
    const page = await previewFetch(p.url, { headers: { 'x-berth-preview-token': p.token } });
    expect(page.body).toContain('from gVisor');
    const ws = new WebSocket(p.url.replace('http', 'ws'), {
      headers: { 'x-berth-preview-token': p.token },
      lookup: loopback,
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise<string>((resolve) => ws.once('message', (m: Buffer) => resolve(m.toString())));
    ws.send('through gVisor');
    expect(await reply).toBe('echo:through gVisor');
    ws.close();
  }, 150_000);
});
