import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { SPEND_SCENARIO } from './spend-scenario.js';

/**
 * Session budgets (`max_list_cost`), enforced in the model gateway at list price: once the session's tracked cost
 * reaches the cap, no further model request goes upstream and the turn ends with `stop_reason: budget_reached`.
 * Each scripted request costs 31.5 cents (spend-scenario.ts).
 */

describe.skipIf(e2eSkipReason() !== false)('session budgets', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [SPEND_SCENARIO],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('stops model requests once the list cost reaches max_list_cost, until the budget is raised', async () => {
    const agent = await t.client.beta.agents.create({
      name: 'b',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await t.client.beta.environments.create({ name: 'b', config: { type: 'cloud' } });
    const s = await t.client.beta.sessions.create({
      agent: agent.id,
      environment_id: env.id,
      budget: { type: 'limit', max_list_cost: { amount: '40', currency: 'USD' } },
    });
    const marker = `budget-${Math.random().toString(36).slice(2)}`;
    const upstream = () => t.app.scriptedModel!.requests.filter((r) => JSON.stringify(r.body).includes(marker)).length;

    // Request 1 (0 spent) and request 2 (31.5 spent) go upstream; request 3 (63 spent) does not.
    const first = await collectTurn(t.client, s.id, () => say(t.client, s.id, `[scenario:spend] ${marker}`));
    expect(first.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'budget_reached' } });
    expect(first.some((e) => e.type === 'session.error')).toBe(false);
    expect(upstream()).toBe(2);
    const after = await t.client.beta.sessions.retrieve(s.id);
    expect(after.usage.list_cost).toEqual({ amount: '63', currency: 'USD' });

    // A new message is refused at once: nothing goes upstream.
    const again = await collectTurn(t.client, s.id, () => say(t.client, s.id, 'go on'));
    expect(again.at(-1)).toMatchObject({ stop_reason: { type: 'budget_reached' } });
    expect(upstream()).toBe(2);

    // The reference's update rules: a cap at or below the spend is refused; a higher one lets the turn go on.
    const low = await t.client.beta.sessions
      .update(s.id, { budget: { type: 'limit', max_list_cost: { amount: '63', currency: 'USD' } } })
      .catch((e: Error) => e);
    expect(low).toMatchObject({ status: 400 });
    expect((low as Error).message).toContain('budget_not_raised');
    await t.client.beta.sessions.update(s.id, {
      budget: { type: 'limit', max_list_cost: { amount: '200', currency: 'USD' } },
    });
    const resumed = await collectTurn(t.client, s.id, () => say(t.client, s.id, 'go on'));
    expect(resumed.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
    expect(upstream()).toBeGreaterThan(2);
  });

  it('refuses a budget it cannot enforce, and one added after create', async () => {
    const env = await t.client.beta.environments.create({ name: 'b2', config: { type: 'cloud' } });
    const unpriced = await t.client.beta.agents.create({ name: 'u', model: 'my-local-model' });
    const budget = { type: 'limit', max_list_cost: { amount: '100', currency: 'USD' } } as const;
    const err = await t.client.beta.sessions
      .create({ agent: unpriced.id, environment_id: env.id, budget })
      .catch((e: Error) => e);
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toContain('model_not_budgetable');

    const priced = await t.client.beta.agents.create({ name: 'p', model: 'claude-haiku-4-5' });
    const s = await t.client.beta.sessions.create({ agent: priced.id, environment_id: env.id });
    const late = await t.client.beta.sessions.update(s.id, { budget }).catch((e: Error) => e);
    expect(late).toMatchObject({ status: 400 });
    expect((late as Error).message).toContain('budget_create_only');
    await t.client.beta.sessions.delete(s.id);
  });
});
