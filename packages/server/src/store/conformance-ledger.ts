import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import type { ModelRequestRecord } from './types.js';
import type { SandboxUsageRecord, UsageGroup } from './ledger-types.js';

/** The usage-ledger cases of the store conformance suite; called inside its describe block. */
export function ledgerConformance(ctx: { store: () => Store }): void {
  const req = (
    at: string,
    ids: { s: string; a: string; e: string },
    input: number,
    message_id: string | null = newId('modelRequest').replace('mreq_', 'msg_'),
    model = 'claude-sonnet-4-5',
  ): ModelRequestRecord => ({
    id: newId('modelRequest'),
    session_id: ids.s,
    agent_id: ids.a,
    environment_id: ids.e,
    tenant_id: 'default',
    message_id,
    model,
    status: 200,
    input_tokens: input,
    output_tokens: 10,
    cache_read_input_tokens: 3,
    cache_creation_input_tokens: 2,
    latency_ms: 7,
    created_at: at,
  });
  const interval = (
    end: string,
    ids: { s: string; a: string; e: string },
    seconds: number,
    vcpus = 1,
  ): SandboxUsageRecord => ({
    id: newId('sandboxUsage'),
    session_id: ids.s,
    agent_id: ids.a,
    environment_id: ids.e,
    tenant_id: 'default',
    driver: 'bwrap',
    started_at: new Date(Date.parse(end) - seconds * 1000).toISOString(),
    ended_at: end,
    seconds,
    active_seconds: seconds / 2,
    memory_gib_seconds: seconds * 0.25,
    vcpus,
    vcpu_seconds: seconds * vcpus,
  });
  const A = { s: 'sesn_A', a: 'agent_1', e: 'env_1' };
  const B = { s: 'sesn_B', a: 'agent_1', e: 'env_2' };
  const C = { s: 'sesn_C', a: 'agent_2', e: 'env_2' };
  const keys = (groups: UsageGroup[]) => groups.map((g) => g.key);

  it('counts a message id once across the whole ledger; rows without one each count', async () => {
    const store = ctx.store();
    expect(await store.recordModelRequest(req('2026-03-01T10:00:00.000Z', A, 100, 'msg_same'))).toBe(true);
    expect(await store.recordModelRequest(req('2026-03-01T10:00:01.000Z', A, 100, 'msg_same'))).toBe(false);
    expect(await store.recordModelRequest(req('2026-03-01T10:00:02.000Z', B, 999, 'msg_same'))).toBe(false);
    expect(await store.recordModelRequest(req('2026-03-01T10:00:03.000Z', B, 5, null))).toBe(true);
    expect(await store.recordModelRequest(req('2026-03-01T10:00:04.000Z', B, 6, null))).toBe(true);
    const u = await store.sessionUsages([A.s, B.s]);
    expect(u.get(A.s)).toMatchObject({ input_tokens: 100, requests: 1 });
    expect(u.get(B.s)).toMatchObject({ input_tokens: 11, requests: 2 });
  });

  it('sums sandbox intervals per session, zero for sessions without any', async () => {
    const store = ctx.store();
    await store.recordSandboxUsage(interval('2026-03-01T10:00:10.000Z', A, 10, 2));
    await store.recordSandboxUsage(interval('2026-03-01T10:00:15.500Z', A, 5.5, 2));
    const m = await store.sandboxUsages([A.s, 'sesn_none']);
    expect(m.get(A.s)).toEqual({
      seconds: 15.5,
      active_seconds: 7.75,
      memory_gib_seconds: 3.875,
      vcpu_seconds: 31,
      intervals: 2,
    });
    expect(m.get('sesn_none')).toEqual({
      seconds: 0,
      active_seconds: 0,
      memory_gib_seconds: 0,
      vcpu_seconds: 0,
      intervals: 0,
    });
    expect((await store.sandboxUsages([])).size).toBe(0);
  });

  it('groups the ledger by session, agent, environment, tenant and day, in a range, a page at a time', async () => {
    const store = ctx.store();
    const day1 = '2026-03-01T23:59:59.999Z';
    const day2 = '2026-03-02T00:00:00.000Z';
    await store.recordModelRequest(req(day1, A, 100));
    await store.recordModelRequest(req(day2, A, 200, undefined, 'claude-haiku-4-5'));
    await store.recordModelRequest(req(day2, B, 400));
    await store.recordSandboxUsage(interval(day1, A, 60));
    // C has sandbox time but no model request: its groups still appear.
    await store.recordSandboxUsage(interval('2026-03-02T12:00:00.000Z', C, 30, 0.5));

    const bySession = await store.usageGroups({ groupBy: 'session', limit: 10 });
    expect(keys(bySession.data)).toEqual([A.s, B.s, C.s]);
    const a = bySession.data[0]!;
    expect(a.tokens).toMatchObject({ input_tokens: 300, output_tokens: 20, requests: 2 });
    expect(a.tokens.by_model.map((m) => [m.model, m.input_tokens])).toEqual([
      ['claude-haiku-4-5', 200],
      ['claude-sonnet-4-5', 100],
    ]);
    expect(a.sandbox).toMatchObject({ seconds: 60, vcpu_seconds: 60, intervals: 1 });
    expect(bySession.data[2]!.tokens.requests).toBe(0);
    expect(bySession.data[2]!.sandbox).toMatchObject({ seconds: 30, vcpu_seconds: 15 });

    const byAgent = await store.usageGroups({ groupBy: 'agent', limit: 10 });
    expect(byAgent.data.map((g) => [g.key, g.tokens.input_tokens, g.sandbox.seconds])).toEqual([
      ['agent_1', 700, 60],
      ['agent_2', 0, 30],
    ]);
    const byEnv = await store.usageGroups({ groupBy: 'environment', limit: 10 });
    expect(byEnv.data.map((g) => [g.key, g.tokens.input_tokens])).toEqual([
      ['env_1', 300],
      ['env_2', 400],
    ]);
    const byTenant = await store.usageGroups({ groupBy: 'tenant', limit: 10 });
    expect(byTenant.data.map((g) => [g.key, g.tokens.input_tokens, g.sandbox.intervals])).toEqual([
      ['default', 700, 2],
    ]);
    const byDay = await store.usageGroups({ groupBy: 'day', limit: 10 });
    expect(byDay.data.map((g) => [g.key, g.tokens.input_tokens, g.sandbox.seconds])).toEqual([
      ['2026-03-01', 100, 60],
      ['2026-03-02', 600, 30],
    ]);

    // The range is from <= time < to, on the reply's time and the interval's end.
    const ranged = await store.usageGroups({
      groupBy: 'session',
      from: day2,
      to: '2026-03-02T12:00:00.000Z',
      limit: 10,
    });
    expect(ranged.data.map((g) => [g.key, g.tokens.input_tokens, g.sandbox.seconds])).toEqual([
      [A.s, 200, 0],
      [B.s, 400, 0],
    ]);
    const until = await store.usageGroups({ groupBy: 'day', to: day2, limit: 10 });
    expect(keys(until.data)).toEqual(['2026-03-01']);
    const filtered = await store.usageGroups({ groupBy: 'day', agentId: 'agent_2', limit: 10 });
    expect(filtered.data.map((g) => [g.key, g.sandbox.seconds])).toEqual([['2026-03-02', 30]]);
    const oneEnv = await store.usageGroups({ groupBy: 'session', environmentId: 'env_2', sessionId: B.s, limit: 10 });
    expect(keys(oneEnv.data)).toEqual([B.s]);

    // Pages of one group each walk every key once, in order.
    const seen: string[] = [];
    let page: string | undefined;
    do {
      const p = await store.usageGroups({ groupBy: 'session', limit: 1, page });
      seen.push(...keys(p.data));
      page = p.next ?? undefined;
    } while (page);
    expect(seen).toEqual([A.s, B.s, C.s]);
    expect((await store.usageGroups({ groupBy: 'session', from: '2030-01-01T00:00:00.000Z', limit: 5 })).data).toEqual(
      [],
    );
  });
}
