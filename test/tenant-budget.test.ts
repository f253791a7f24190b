import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { SPEND_SCENARIO } from './spend-scenario.js';

/**
 * Per-tenant monthly budgets: once a tenant's list cost this month reaches its budget, its sessions get no more
 * model requests (the turn ends `budget_reached`) and it cannot create sessions (402 billing_error), while other
 * tenants go on; raising the budget lets it continue. Each scripted request costs 31.5 cents (spend-scenario.ts).
 */
const scenarios = [SPEND_SCENARIO];

describe.skipIf(e2eSkipReason() !== false)('tenant monthly budgets', () => {
  let t: TestBerth;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(t.app.url + path, {
      method,
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const tenantClient = async (name: string, budgetCents?: number) => {
    const budget =
      budgetCents === undefined
        ? undefined
        : { type: 'monthly', max_list_cost: { amount: String(budgetCents), currency: 'USD' } };
    const tenant = (await admin('POST', '/v1/berth/admin/tenants', { name, budget })) as { id: string };
    const key = (await admin('POST', '/v1/berth/admin/keys', { scope: 'write', tenant_id: tenant.id })) as {
      secret: string;
    };
    return { id: tenant.id, client: new Anthropic({ baseURL: t.app.url, apiKey: key.secret, maxRetries: 0 }) };
  };

  beforeAll(async () => {
    t = await startTestBerth({ scenarios });
  });
  afterAll(async () => t?.close());

  it("stops a tenant's model requests at its monthly budget, refuses its new sessions with 402, spares other tenants", async () => {
    const a = await tenantClient('capped', 40);
    const b = await tenantClient('uncapped');
    const marker = `tb-${Math.random().toString(36).slice(2)}`;
    const upstream = () => t.app.scriptedModel!.requests.filter((r) => JSON.stringify(r.body).includes(marker)).length;

    const aIds = await agentAndEnv(a.client);
    const s = await a.client.beta.sessions.create({ agent: aIds.agentId, environment_id: aIds.envId });
    // Request 1 (0 spent) and 2 (31.5 spent) go upstream; request 3 (63 spent) is refused in the gateway.
    const first = await collectTurn(a.client, s.id, () => say(a.client, s.id, `[scenario:spend] ${marker}`));
    expect(first.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'budget_reached' } });
    expect(upstream()).toBe(2);
    const tenant = (await admin('GET', `/v1/berth/admin/tenants/${a.id}`)) as { spend: Record<string, unknown> };
    expect(tenant.spend).toMatchObject({ list_cost: { amount: '63', currency: 'USD' }, budget_reached: true });
    expect(tenant.spend.month).toBe(new Date().toISOString().slice(0, 7));

    // A new session of the exhausted tenant: 402 billing_error, with what to do next.
    const refused = await a.client.beta.sessions
      .create({ agent: aIds.agentId, environment_id: aIds.envId })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 402, error: { error: { type: 'billing_error' } } });
    expect(String((refused as Error).message)).toContain(`/v1/berth/admin/tenants/${a.id}`);
    // Its existing session's next message goes nowhere upstream either.
    const again = await collectTurn(a.client, s.id, () => say(a.client, s.id, 'go on'));
    expect(again.at(-1)).toMatchObject({ stop_reason: { type: 'budget_reached' } });
    expect(upstream()).toBe(2);

    // Another tenant is not affected.
    const bIds = await agentAndEnv(b.client);
    const bs = await b.client.beta.sessions.create({ agent: bIds.agentId, environment_id: bIds.envId });
    const bTurn = await collectTurn(b.client, bs.id, () => say(b.client, bs.id, `[scenario:spend] ${marker}-b`));
    expect(bTurn.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });

    // Raising the budget lets the capped tenant go on.
    const raised = (await admin('POST', `/v1/berth/admin/tenants/${a.id}`, {
      budget: { type: 'monthly', max_list_cost: { amount: '500', currency: 'USD' } },
    })) as { spend: { budget_reached: boolean } };
    expect(raised.spend.budget_reached).toBe(false);
    const resumed = await collectTurn(a.client, s.id, () => say(a.client, s.id, 'go on'));
    expect(resumed.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
    expect(upstream()).toBeGreaterThan(2);
  });

  it('validates budgets on create and update', async () => {
    const bad = await fetch(t.app.url + '/v1/berth/admin/tenants', {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'x',
        budget: { type: 'monthly', max_list_cost: { amount: '-5', currency: 'USD' } },
      }),
    });
    expect(bad.status).toBe(400);
    const { id } = (await admin('POST', '/v1/berth/admin/tenants', { name: 'y' })) as { id: string };
    const cleared = (await admin('POST', `/v1/berth/admin/tenants/${id}`, {
      budget: null,
      metadata: { team: 'a' },
    })) as {
      budget: unknown;
      metadata: unknown;
    };
    expect([cleared.budget, cleared.metadata]).toEqual([null, { team: 'a' }]);
  });
});
