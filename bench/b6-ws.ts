import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { WebSocket } from 'ws';
import { createLogger, loadConfig, startBerth } from '@berth/server';
import { interleave, report } from './stats.js';

/**
 * B6: send → first event (the user.message echo) on one warm session, over the WebSocket channel (one connection,
 * the event sent as a frame) vs POST /events with an SSE stream opened beforehand (the official SDK). Each sample is
 * a full one-call turn; only send → echo is timed.
 */

const SCENARIO = { name: 'bench-ws', turns: [{ content: [{ type: 'text', text: 'ok' }] }] };
type Ev = { type: string; stop_reason?: { type: string } };

export async function benchWebSocket(n: number): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bw-'));
  const key = 'bench-admin-key-0123456789';
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      adminKey: key,
      anthropicApiKey: 'bench-upstream',
      logLevel: 'warn',
      // A bench leaves nothing behind: closing destroys its sandboxes.
      stopSandboxesOnExit: true,
    },
  );
  const app = await startBerth(config, { logger: createLogger('warn', process.stderr) });
  app.scriptedModel!.addScenario(SCENARIO as never);
  const client = new Anthropic({ baseURL: app.url, apiKey: key, maxRetries: 0 });
  const text = { type: 'user.message' as const, content: [{ type: 'text' as const, text: '[scenario:bench-ws] hi' }] };
  try {
    const agent = await client.beta.agents.create({ name: 'bench', model: 'claude-sonnet-4-5', tools: [] });
    const env = await client.beta.environments.create({ name: 'bench', config: { type: 'cloud' } });
    const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    const ws = new WebSocket(`${app.url.replace(/^http/, 'ws')}/v1/berth/sessions/${s.id}/ws`, {
      headers: { 'x-api-key': key },
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    let onFrame: (e: Ev) => void = () => {};
    ws.on('message', (d: Buffer) => onFrame(JSON.parse(d.toString('utf8')) as Ev));

    const overWs = async (): Promise<number> => {
      let first = 0;
      const idle = new Promise<void>((resolve) => {
        onFrame = (e) => {
          if (e.type === 'user.message' && !first) first = performance.now();
          if (e.type === 'session.status_idle') resolve();
        };
      });
      const t0 = performance.now();
      ws.send(JSON.stringify(text));
      await idle;
      return first - t0;
    };
    const overSse = async (): Promise<number> => {
      const stream = await client.beta.sessions.events.stream(s.id);
      const t0 = performance.now();
      await client.beta.sessions.events.send(s.id, { events: [text] });
      let first = 0;
      for await (const e of stream) {
        if (e.type === 'user.message' && !first) first = performance.now();
        if (e.type === 'session.status_idle') break;
      }
      return first - t0;
    };
    const [a, b] = await interleave(n, 2, overWs, overSse);
    ws.close();
    return [
      report({
        id: 'B6',
        title: 'send → user.message echo on a warm session',
        berth: { name: 'WebSocket: frame → echo frame', samples: a },
        baseline: { name: 'POST /events → echo on SSE', samples: b },
        target: 1,
      }),
    ];
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
