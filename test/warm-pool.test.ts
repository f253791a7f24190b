import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { parseExposition } from './prom.js';
import { processesOfUid, waitFor } from './procs.js';

type Wire = { id: string; berth: { state: string; sandbox: { id: string; state: string } } };

/**
 * The per-environment warm pool (`berth.warm_pool.size`): ready sandboxes with their runner and CLI started. A new
 * session whose agent matches takes one (it is ready at once), the pool refills in the background with new
 * sandboxes, and a sandbox is never served twice.
 */
describe.skipIf(e2eSkipReason() !== false)('warm pool', () => {
  let t: TestBerth;

  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [{ name: 'warm', turns: [{ content: [{ type: 'text', text: 'warm hello' }] }] }],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const scrape = async () => {
    const r = await fetch(`${t.app.url}/metrics`, { headers: { 'x-api-key': t.app.adminKey } });
    expect(r.status).toBe(200);
    return parseExposition(await r.text());
  };
  const post = async (path: string, body: object) => {
    const r = await fetch(`${t.app.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(r.status, await r.clone().text()).toBe(200);
    return (await r.json()) as Record<string, unknown> & { id: string };
  };

  it('serves ready sandboxes to matching sessions, refills with new ones, and never serves one twice', async () => {
    const agent = await t.client.beta.agents.create({
      name: 'warm',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await post('/v1/environments', {
      name: 'warm',
      config: { type: 'cloud' },
      berth: { warm_pool: { size: 2 } },
    });
    expect((env.berth as { warm_pool: unknown }).warm_pool).toEqual({ size: 2 });
    const create = async (a = agent.id) =>
      (await t.client.beta.sessions.create({ agent: a, environment_id: env.id })) as unknown as Wire;

    // The first session shows the pool its agent (it starts cold); then the pool fills.
    const first = await create();
    expect(first.berth.state).toBe('starting');
    expect(await waitFor(() => t.app.sessions.pool.size(env.id) === 2, 60_000, 100)).toBe(true);

    const served = new Set<string>([first.berth.sandbox.id]);
    for (let i = 0; i < 3; i++) {
      expect(await waitFor(() => t.app.sessions.pool.size(env.id) >= 1, 60_000, 100)).toBe(true);
      const s = await create();
      // A warm session is ready at once: its agent process was started ahead.
      expect(s.berth.state).toBe('ready');
      expect(served.has(s.berth.sandbox.id)).toBe(false);
      served.add(s.berth.sandbox.id);
      const turn = await collectTurn(t.client, s.id, () => say(t.client, s.id, `[scenario:warm] hi ${i}`));
      expect(turn.filter((e) => e.type === 'agent.message').map((e) => JSON.stringify(e.content))).toEqual([
        JSON.stringify([{ type: 'text', text: 'warm hello' }]),
      ]);
      const events = await t.client.beta.sessions.events.list(s.id);
      expect(events.data[0]!.type).toBe('user.message');
    }
    expect(await waitFor(() => t.app.sessions.pool.size(env.id) === 2, 60_000, 100)).toBe(true);

    // Another agent does not fit the spares: it starts cold, and the pool re-warms for it.
    const other = await t.client.beta.agents.create({
      name: 'other',
      model: 'claude-sonnet-4-5',
      system: 'A different system prompt.',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const cold = await create(other.id);
    expect(cold.berth.state).toBe('starting');
    expect(served.has(cold.berth.sandbox.id)).toBe(false);

    // Archiving the environment drains its pool: the spares' sandboxes go.
    expect(await waitFor(() => t.app.sessions.pool.size(env.id) === 2, 60_000, 100)).toBe(true);
    // /metrics shows the pool: 2 ready spares of 2 configured (summed over environments, no environment label).
    const pool = await scrape();
    expect([pool.value('berth_warm_pool_sandboxes', { state: 'ready' }), pool.value('berth_warm_pool_target')]).toEqual(
      [2, 2],
    );
    const spareUids = (await t.app.driver.list())
      .filter((i) => !served.has(i.id) && i.id !== cold.berth.sandbox.id)
      .map((i) => i.hostUid);
    expect(spareUids.length).toBeGreaterThanOrEqual(2);
    await post(`/v1/environments/${env.id}/archive`, {});
    expect(await waitFor(() => spareUids.every((u) => processesOfUid(u).length === 0), 20_000)).toBe(true);
    expect(t.app.sessions.pool.size(env.id)).toBe(0);
    const drained = await scrape();
    expect([
      drained.value('berth_warm_pool_sandboxes', { state: 'ready' }),
      drained.value('berth_warm_pool_target'),
    ]).toEqual([0, 0]);
  }, 300_000);

  it('is refused beyond 16 spares and off by default', async () => {
    const r = await fetch(`${t.app.url}/v1/environments`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', berth: { warm_pool: { size: 17 } } }),
    });
    expect(r.status).toBe(400);
    const e = await post('/v1/environments', { name: 'plain', config: { type: 'cloud' } });
    expect((e.berth as { warm_pool: unknown }).warm_pool).toEqual({ size: 0 });
  });
});
