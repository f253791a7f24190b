import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedRequest } from '@berth/scripted-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth } from './cli-run.js';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

/**
 * The usage and cost ledger end to end: a real berthd, real sandboxes running the real Claude CLI against the
 * scripted model, the official SDK and the real `berth` CLI. What the ledger holds is compared with what the
 * scripted model reported in its replies (each recorded request's `reply`), token for token.
 */

const U = (input: number, output: number, cacheRead: number, cacheWrite: number) => ({
  input_tokens: input,
  output_tokens: output,
  cache_read_input_tokens: cacheRead,
  cache_creation_input_tokens: cacheWrite,
});
const DUP_ID = `msg_dup_${Math.random().toString(36).slice(2, 10)}`;
const SCENARIOS = [
  {
    name: 'ledger',
    turns: [
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: 'sleep 1; echo counted', description: 'work' } }],
        usage: U(1234, 56, 789, 321),
      },
      { content: [{ type: 'text', text: 'Done.' }], usage: U(2345, 67, 890, 12) },
    ],
  },
  {
    // The second reply repeats the first one's message id, as a re-sent reply would: it must be counted once.
    name: 'ledger-dup',
    turns: [
      { content: [{ type: 'text', text: 'first' }], usage: U(111, 22, 33, 44), message_id: DUP_ID },
      { content: [{ type: 'text', text: 'second' }], usage: U(555, 66, 77, 88), message_id: DUP_ID },
    ],
  },
];
/** The operator's price file: overrides the built-in claude-sonnet-4 row and adds a model. */
const PRICE_FILE = {
  models: {
    'claude-sonnet-4-5': { input: 7, output: 11, cache_write: 13, cache_read: 0.5 },
    'my-local-model': { input: 1, output: 1, cache_write: 1, cache_read: 1 },
  },
};
const BUILTIN_SONNET = { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 };
const VCPU_HOUR_USD = 3.6;

type Tokens = ReturnType<typeof U>;
type Price = typeof BUILTIN_SONNET;
const KEYS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

/** What the scripted model reported for the requests that carry `marker`, each message id counted once. */
function reported(requests: RecordedRequest[], marker: string): Tokens & { requests: number } {
  const seen = new Set<string>();
  const sum = { ...U(0, 0, 0, 0), requests: 0 };
  for (const r of requests) {
    if (r.path !== '/v1/messages' || !r.reply?.usage || !JSON.stringify(r.body).includes(marker)) continue;
    if (r.reply.message_id && seen.has(r.reply.message_id)) continue;
    if (r.reply.message_id) seen.add(r.reply.message_id);
    for (const k of KEYS) sum[k] += r.reply.usage[k];
    sum.requests++;
  }
  return sum;
}

function usdOf(t: Tokens, p: Price): number {
  return (
    (t.input_tokens * p.input +
      t.output_tokens * p.output +
      t.cache_creation_input_tokens * p.cache_write +
      t.cache_read_input_tokens * p.cache_read) /
    1e6
  );
}

interface Group {
  key: string;
  model_requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  by_model: Array<{ model: string; cost_usd: number }>;
  sandbox: {
    seconds: number;
    active_seconds: number;
    memory_gib_seconds: number;
    vcpu_seconds: number;
    intervals: number;
  };
  cost_usd: { tokens: number; sandbox: number; total: number };
}
interface Report {
  data: Group[];
  next_page: string | null;
}

describe.skipIf(e2eSkipReason() !== false)('usage and cost ledger', () => {
  let t: TestBerth;
  let dir: string;
  const started = new Date().toISOString();
  const usage = (query: Record<string, string>) => t.client.get<Report>('/v1/berth/usage', { query });
  let ids: { agent: string; env1: string; env2: string; s1: string; s2: string; m1: string; m2: string };
  let lifetimeS = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-'));
    writeFileSync(join(dir, 'prices.json'), JSON.stringify(PRICE_FILE));
    t = await startTestBerth({
      scenarios: SCENARIOS,
      config: {
        priceFile: join(dir, 'prices.json'),
        containerVcpuHourUsd: VCPU_HOUR_USD,
        sandboxUsageSampleS: 0.5,
      },
    });
    const agent = await t.client.beta.agents.create({
      name: 'ledger',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (name: string, cpus: number) =>
      t.client.post<{ id: string }>('/v1/environments', {
        body: { name, config: { type: 'cloud' }, berth: { resources: { cpus } } },
      });
    const env1 = await env('ledger-1', 0.5);
    const env2 = await env('ledger-2', 1);
    const s1 = await t.client.beta.sessions.create({ agent: agent.id, environment_id: env1.id });
    const s2 = await t.client.beta.sessions.create({ agent: agent.id, environment_id: env2.id });
    const m1 = `m1-${Math.random().toString(36).slice(2)}`;
    const m2 = `m2-${Math.random().toString(36).slice(2)}`;
    ids = { agent: agent.id, env1: env1.id, env2: env2.id, s1: s1.id, s2: s2.id, m1, m2 };
    const t0 = Date.now();
    const a = await collectTurn(t.client, s1.id, () => say(t.client, s1.id, `[scenario:ledger] ${m1}`));
    expect(a.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    const b = await collectTurn(t.client, s2.id, () => say(t.client, s2.id, `[scenario:ledger-dup] ${m2}`));
    expect(b.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
    const c = await collectTurn(t.client, s2.id, () => say(t.client, s2.id, 'again'));
    expect(c.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
    // Archiving stops the sandboxes: their last intervals are written before they go.
    await t.client.beta.sessions.archive(s1.id);
    await t.client.beta.sessions.archive(s2.id);
    lifetimeS = (Date.now() - t0) / 1000;
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds exactly the usage the scripted model reported, each message id once, priced by the price file', async () => {
    const requests = t.app.scriptedModel!.requests;
    const want1 = reported(requests, ids.m1);
    const want2 = reported(requests, ids.m2);
    // The scenarios' turns are in there (plus whatever else the CLI asked, e.g. a title, as reported).
    expect(want1.input_tokens).toBeGreaterThanOrEqual(1234 + 2345);
    expect(requests.filter((r) => r.reply?.message_id === DUP_ID)).toHaveLength(2);
    expect(want2.input_tokens).toBeGreaterThanOrEqual(111);

    for (const [sid, want] of [
      [ids.s1, want1],
      [ids.s2, want2],
    ] as const) {
      const r = await usage({ group_by: 'session', session_id: sid });
      expect(r.data).toHaveLength(1);
      const g = r.data[0]!;
      expect({ ...KEYS.reduce((o, k) => ({ ...o, [k]: g[k] }), {}), requests: g.model_requests }).toEqual(want);
      // The session resource says the same, in the Managed Agents shape.
      const s = (await t.client.beta.sessions.retrieve(sid)) as unknown as {
        usage: Record<string, unknown> & { cache_creation: { ephemeral_5m_input_tokens: number } };
        stats: { active_seconds: number };
        berth: { usage: { model_requests: number; sandbox: Group['sandbox']; cost_usd: Group['cost_usd'] } };
      };
      expect(s.usage).toMatchObject({
        input_tokens: want.input_tokens,
        output_tokens: want.output_tokens,
        cache_read_input_tokens: want.cache_read_input_tokens,
        cache_creation: { ephemeral_5m_input_tokens: want.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 },
      });
      // Priced with the price file's row, not the built-in one: the override changes the cost.
      const priced = usdOf(want, PRICE_FILE.models['claude-sonnet-4-5']);
      expect(Math.abs(priced - usdOf(want, BUILTIN_SONNET))).toBeGreaterThan(1e-4);
      // The API shows micro-dollars.
      expect(g.cost_usd.tokens).toBeCloseTo(priced, 5);
      expect(s.usage.list_cost).toEqual({ amount: String(Math.ceil(priced * 100)), currency: 'USD' });
      expect(g.by_model).toEqual([expect.objectContaining({ model: 'claude-sonnet-4-5' })]);
      expect(s.berth.usage.model_requests).toBe(want.requests);
      expect(s.berth.usage.cost_usd).toEqual(g.cost_usd);
    }
    // The repeated message id was recorded once: the second reply's tokens are nowhere in the ledger.
    const dupGroup = (await usage({ group_by: 'session', session_id: ids.s2 })).data[0]!;
    expect(dupGroup.output_tokens).toBe(want2.output_tokens);
    const all = requests.filter((r) => JSON.stringify(r.body).includes(ids.m2) && r.reply?.usage);
    const naive = all.reduce((n, r) => n + r.reply!.usage!.output_tokens, 0);
    expect(naive - dupGroup.output_tokens).toBe(66);
  });

  it('records sandbox time per session: wall and active seconds, memory GiB-seconds, vCPU-seconds at the CPU limit', async () => {
    for (const [sid, cpus] of [
      [ids.s1, 0.5],
      [ids.s2, 1],
    ] as const) {
      const g = (await usage({ group_by: 'session', session_id: sid })).data[0]!;
      const s = (await t.client.beta.sessions.retrieve(sid)) as unknown as { stats: { active_seconds: number } };
      expect(g.sandbox.intervals).toBeGreaterThanOrEqual(2);
      expect(g.sandbox.seconds).toBeGreaterThan(1);
      expect(g.sandbox.seconds).toBeLessThanOrEqual(lifetimeS + 5);
      expect(g.sandbox.vcpu_seconds).toBeCloseTo(g.sandbox.seconds * cpus, 2);
      // The meter and the session's stats follow the same status changes (the service stamps its times after a
      // store read, so the two may differ by that read's latency at each end of a turn).
      expect(g.sandbox.active_seconds).toBeGreaterThan(0);
      expect(Math.abs(g.sandbox.active_seconds - s.stats.active_seconds)).toBeLessThan(1);
      // A live Node runner plus the CLI hold tens of MiB at least, and never more than the 1 GiB default limit.
      expect(g.sandbox.memory_gib_seconds / g.sandbox.seconds).toBeGreaterThan(10 / 1024);
      expect(g.sandbox.memory_gib_seconds / g.sandbox.seconds).toBeLessThanOrEqual(1);
      expect(g.cost_usd.sandbox).toBeCloseTo((g.sandbox.vcpu_seconds / 3600) * VCPU_HOUR_USD, 5);
      expect(g.cost_usd.total).toBeCloseTo(g.cost_usd.tokens + g.cost_usd.sandbox, 6);
    }
  });

  it('groups by agent, environment, tenant and day within a time range, and pages', async () => {
    const [g1, g2] = [
      (await usage({ group_by: 'session', session_id: ids.s1 })).data[0]!,
      (await usage({ group_by: 'session', session_id: ids.s2 })).data[0]!,
    ];
    const agent = await usage({ group_by: 'agent', agent_id: ids.agent });
    expect(agent.data.map((g) => [g.key, g.input_tokens, g.model_requests])).toEqual([
      [ids.agent, g1.input_tokens + g2.input_tokens, g1.model_requests + g2.model_requests],
    ]);
    expect(agent.data[0]!.sandbox.seconds).toBeCloseTo(g1.sandbox.seconds + g2.sandbox.seconds, 2);
    const envs = await usage({ group_by: 'environment', agent_id: ids.agent });
    expect(envs.data.map((g) => [g.key, g.input_tokens]).sort()).toEqual(
      [
        [ids.env1, g1.input_tokens],
        [ids.env2, g2.input_tokens],
      ].sort(),
    );
    const tenant = await usage({ group_by: 'tenant' });
    expect(tenant.data.map((g) => g.key)).toEqual(['default']);
    expect(tenant.data[0]!.output_tokens).toBe(g1.output_tokens + g2.output_tokens);
    const now = new Date().toISOString();
    const day = await usage({ group_by: 'day', from: started, to: now });
    const today = started.slice(0, 10);
    expect(day.data.map((g) => g.key)).toContain(today);
    expect(day.data.reduce((n, g) => n + g.input_tokens, 0)).toBe(g1.input_tokens + g2.input_tokens);
    // Nothing happened before the test started.
    expect((await usage({ group_by: 'session', to: started })).data).toEqual([]);
    // One group per page: every session once, in key order.
    const keys: string[] = [];
    let page: string | null = null;
    do {
      const p: Report = await usage({ group_by: 'session', limit: '1', ...(page ? { page } : {}) });
      keys.push(...p.data.map((g) => g.key));
      page = p.next_page;
    } while (page);
    expect(keys).toEqual([ids.s1, ids.s2].sort());
  });

  it('refuses bad queries with an Anthropic error that names the field', async () => {
    for (const [query, field] of [
      [{ group_by: 'model' }, 'group_by'],
      [{ from: 'yesterday' }, 'from'],
      [{ from: '2026-02-01', to: '2026-01-01' }, 'from'],
      [{ limit: '0' }, 'limit'],
      [{ tenant: 'x' }, 'tenant'],
    ] as const) {
      const err = (await usage(query as Record<string, string>).catch((e: unknown) => e)) as {
        status: number;
        error: { type: string; error: { type: string; message: string } };
      };
      expect(err.status).toBe(400);
      expect(err.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      expect(err.error.error.message).toContain(field);
    }
    const cursor = (await usage({ page: 'not-a-cursor' }).catch((e: unknown) => e)) as { status: number };
    expect(cursor.status).toBe(400);
  });

  it('`berth usage` prints the same numbers', async () => {
    const conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
    const api = (await usage({ group_by: 'session', session_id: ids.s1 })).data[0]!;
    const json = await berth(['usage', '--by', 'session', '--session', ids.s1, '--json', ...conn]);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Group),
    ).toEqual([api]);
    const table = await berth(['usage', '--by', 'agent', '--from', started.slice(0, 10), ...conn]);
    expect(table.code).toBe(0);
    const line = table.stdout.split('\n').find((l) => l.startsWith(ids.agent));
    const agentTotal = (await usage({ group_by: 'agent', agent_id: ids.agent })).data[0]!;
    expect(line?.split(/\s+/).slice(1, 3)).toEqual([
      String(agentTotal.model_requests),
      String(agentTotal.input_tokens),
    ]);
    expect(table.stdout).toContain(`total ${agentTotal.cost_usd.total.toFixed(6)} USD`);
    const bad = await berth(['usage', '--by', 'model', ...conn]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expected one of session, agent, environment, tenant, day');
    // A price file that does not match the format stops berthd at start-up (exit 2), naming the field.
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ models: { m: { input: 1, output: -2 } } }));
    const serve = await berth([
      'serve',
      '--price-file',
      join(dir, 'bad.json'),
      '--data-dir',
      join(dir, 'dd'),
      '--port',
      '0',
    ]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('models.m.output');
    expect(serve.stderr).toContain('models.m.cache_write');
  });
});
