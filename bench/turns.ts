import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, loadConfig, startBerth } from '@berth/server';
import { runDirect } from './direct-sdk.js';
import { firstRequest } from './model-requests.js';
import { interleave, report } from './stats.js';

/**
 * B2 (events.send → first model request, new session) and B3 (a full turn: 3 model calls, 2 tools), Berth vs the
 * SDK run directly on the host, in one process against one scripted model.
 */

const SCENARIO = {
  name: 'bench-turn',
  turns: [
    {
      content: [{ type: 'tool_use', name: 'Write', input: { file_path: '/tmp/bench-out.txt', content: 'bench\n' } }],
      usage: { input_tokens: 100, output_tokens: 10 },
    },
    {
      content: [{ type: 'tool_use', name: 'Bash', input: { command: 'cat /tmp/bench-out.txt' } }],
      usage: { input_tokens: 110, output_tokens: 10 },
    },
    { content: [{ type: 'text', text: 'Done.' }], usage: { input_tokens: 120, output_tokens: 5 } },
  ],
};

async function waitReady(client: Anthropic, id: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const s = (await client.beta.sessions.retrieve(id)) as unknown as { berth: { sandbox: { state: string } } };
    if (s.berth.sandbox.state === 'ready') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('sandbox not ready in 10 s');
}

export async function benchTurns(n: number): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bb-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      adminKey: 'bench-admin-key-0123456789',
      anthropicApiKey: 'bench-upstream-key',
      logLevel: 'warn',
      modelMaxRetries: 0,
      // A bench leaves nothing behind: closing destroys its sandboxes.
      stopSandboxesOnExit: true,
    },
  );
  const app = await startBerth(config, { logger: createLogger('warn', process.stderr) });
  app.scriptedModel!.addScenario(SCENARIO as never);
  const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey, maxRetries: 0 });
  const agent = await client.beta.agents.create({
    name: 'bench',
    model: 'claude-sonnet-4-5',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = await client.beta.environments.create({ name: 'bench', config: { type: 'cloud' } });
  const modelUrl = app.scriptedModel!.url;
  const modelKey = 'bench-upstream-key';
  let k = 0;

  /** One Berth turn in a new session; returns [send → first request, send → idle]. */
  const berthTurn = async (waitForReady: boolean): Promise<[number, number]> => {
    const marker = `bench-${k++}-${Date.now()}`;
    const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    if (waitForReady) await waitReady(client, s.id);
    const stream = await client.beta.sessions.events.stream(s.id);
    const first = firstRequest(app, marker);
    const t0 = performance.now();
    await client.beta.sessions.events.send(s.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: `[scenario:bench-turn] ${marker}` }] }],
    });
    let t2 = 0;
    for await (const e of stream) {
      if (e.type === 'session.status_idle') {
        t2 = performance.now();
        break;
      }
    }
    const t1 = await first;
    await client.beta.sessions.delete(s.id);
    return [t1 - t0, t2 - t0];
  };
  const directTurn = async (): Promise<[number, number]> => {
    const marker = `direct-${k++}-${Date.now()}`;
    const first = firstRequest(app, marker);
    const { started, ended } = await runDirect(modelUrl, modelKey, `[scenario:bench-turn] ${marker}`);
    rmSync('/tmp/bench-out.txt', { force: true });
    return [(await first) - started, ended - started];
  };

  const results: object[] = [];
  try {
    const warm: Array<[number, number]> = [];
    const direct: Array<[number, number]> = [];
    await interleave(
      n,
      1,
      async () => {
        const r = await berthTurn(true);
        warm.push(r);
        return r[0];
      },
      async () => {
        const r = await directTurn();
        direct.push(r);
        return r[0];
      },
    );
    // Cold: the message is sent right after sessions.create returns, while the sandbox and CLI still start.
    const cold: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) cold.push(await berthTurn(false));
    const w = warm.slice(-n);
    const d = direct.slice(-n);
    results.push(
      report({
        id: 'B2',
        title: 'events.send → first request at the scripted model, new session (sandbox ready)',
        berth: { name: 'Berth: send → first model request', samples: w.map((x) => x[0]) },
        baseline: { name: 'SDK query() on the host → first model request', samples: d.map((x) => x[0]) },
        target: 1.2,
        note: `cold (sent right after sessions.create, sandbox and CLI still starting): median ${Math.round(median(cold.map((x) => x[0])))} ms = ${ratio(
          cold.map((x) => x[0]),
          d.map((x) => x[0]),
        )}x`,
      }),
      report({
        id: 'B3',
        title: 'a full turn (3 model calls, 2 tools)',
        berth: { name: 'Berth: send → session.status_idle', samples: w.map((x) => x[1]) },
        baseline: { name: 'SDK query() on the host → result', samples: d.map((x) => x[1]) },
        target: 1.15,
        note: `cold (sent right after sessions.create): median ${Math.round(median(cold.map((x) => x[1])))} ms = ${ratio(
          cold.map((x) => x[1]),
          d.map((x) => x[1]),
        )}x`,
      }),
    );
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}

function ratio(a: number[], b: number[]): number {
  return Math.round((median(a) / median(b)) * 100) / 100;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
