import Anthropic from '@anthropic-ai/sdk';
import { startBenchBerth } from './load-berth.js';
import { firstRequest } from './model-requests.js';
import { interleave, report } from './stats.js';

/**
 * B9 (issue 4): time to the first model request of a new session, taken from the warm pool against started cold.
 * Both send the message right after `sessions.create` returns, as a client would; the interval ends when the
 * scripted model receives the session's first request. Side by side in one berthd, interleaved.
 */

const SCENARIO = { name: 'bench-warm', turns: [{ content: [{ type: 'text', text: 'ok' }] }] };

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for the warm pool');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function benchWarmPool(n: number): Promise<object[]> {
  const berth = await startBenchBerth();
  const app = berth.app;
  app.scriptedModel!.addScenario(SCENARIO as never);
  const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey, maxRetries: 0 });
  const agent = await client.beta.agents.create({
    name: 'bench',
    model: 'claude-sonnet-4-5',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = async (size: number) =>
    (
      (await (
        await fetch(`${app.url}/v1/environments`, {
          method: 'POST',
          headers: { 'x-api-key': app.adminKey, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'bench', config: { type: 'cloud' }, berth: { warm_pool: { size } } }),
        })
      ).json()) as { id: string }
    ).id;
  const warmEnv = await env(1);
  const coldEnv = await env(0);
  let k = 0;
  const sample = async (envId: string): Promise<number> => {
    const marker = `bench-${k++}-${Date.now()}`;
    const first = firstRequest(app, marker);
    const t0 = performance.now();
    const s = await client.beta.sessions.create({ agent: agent.id, environment_id: envId });
    await client.beta.sessions.events.send(s.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: `[scenario:bench-warm] ${marker}` }] }],
    });
    const t1 = await first;
    await client.beta.sessions.delete(s.id);
    return t1 - t0;
  };
  try {
    // The first session teaches the pool its agent (cold); then each warm sample waits for a ready spare first.
    await sample(warmEnv);
    const waitSpare = () => until(() => app.sessions.pool.size(warmEnv) >= 1, 120_000);
    const warm: number[] = [];
    const cold: number[] = [];
    await interleave(
      n,
      1,
      async () => {
        await waitSpare();
        const ms = await sample(warmEnv);
        warm.push(ms);
        return ms;
      },
      async () => {
        await waitSpare(); // both sides run with the same background (no refill in progress)
        const ms = await sample(coldEnv);
        cold.push(ms);
        return ms;
      },
    );
    return [
      report({
        id: 'B9',
        title: 'sessions.create + events.send → first model request: warm pool vs cold start',
        berth: { name: 'warm pool (spare with a started CLI)', samples: warm.slice(-n) },
        baseline: { name: 'cold (sandbox + runner + CLI start)', samples: cold.slice(-n) },
        target: 0.2,
      }),
    ];
  } finally {
    await berth.close();
  }
}
