import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import { DuplicateDeliveryError, type TriggerRecord, type TriggerRunRecord } from './trigger-types.js';

/** A schedule trigger record of the `default` tenant, with `over` applied (also used by the tenant cases). */
export function triggerFixture(now: string, over: Partial<TriggerRecord> = {}): TriggerRecord {
  return {
    id: newId('trigger'),
    kind: 'schedule',
    session_id: newId('session'),
    tenant_id: 'default',
    name: 'nightly',
    prompt: 'Check the inbox.',
    enabled: true,
    cron: '0 9 * * 1-5',
    timezone: 'Europe/Paris',
    secret: null,
    next_run_at: null,
    last_run_at: null,
    metadata: { team: 'ops' },
    created_at: now,
    updated_at: now,
    ...over,
  };
}

/** The trigger cases of the store conformance suite; called inside its describe block. */
export function triggerConformance(ctx: { store: () => Store; now: () => string }): void {
  const trigger = triggerFixture;
  const run = (triggerId: string, now: string, over: Partial<TriggerRunRecord> = {}): TriggerRunRecord => ({
    id: newId('triggerRun'),
    trigger_id: triggerId,
    source: 'schedule',
    scheduled_for: now,
    fired_at: now,
    outcome: 'sent',
    reason: null,
    event_id: newId('event'),
    delivery_id: null,
    ...over,
  });

  it('stores triggers faithfully (sealed secret too), lists newest first, filters by session, replaces and deletes', async () => {
    const store = ctx.store();
    const a = trigger(ctx.now());
    const secret = { key_id: 'k1', nonce: 'bm9uY2U=', ciphertext: 'Y3Q=', tag: 'dGFn' };
    const b = trigger(ctx.now(), { kind: 'webhook', cron: null, timezone: null, secret, session_id: a.session_id });
    const c = trigger(ctx.now(), { enabled: false });
    for (const t of [a, b, c]) await store.createTrigger(t);
    expect(await store.getTrigger(b.id)).toEqual(b);
    expect(await store.getTrigger('trg_missing')).toBeUndefined();
    const p1 = await store.listTriggers({ limit: 2 });
    expect(p1.data.map((t) => t.id)).toEqual([c.id, b.id]);
    const p2 = await store.listTriggers({ limit: 2, page: p1.next! });
    expect(p2.data.map((t) => t.id)).toEqual([a.id]);
    const mine = await store.listTriggers({ limit: 10, sessionId: a.session_id });
    expect(mine.data.map((t) => t.id)).toEqual([b.id, a.id]);
    const changed = { ...a, enabled: false, prompt: 'new', next_run_at: null, updated_at: ctx.now() };
    await store.putTrigger(changed);
    expect(await store.getTrigger(a.id)).toEqual(changed);
    await store.recordTriggerRun(run(a.id, ctx.now()), 10);
    expect(await store.deleteTrigger(a.id)).toBe(true);
    expect(await store.getTrigger(a.id)).toBeUndefined();
    expect((await store.listTriggerRuns(a.id, { limit: 10 })).data).toEqual([]);
    expect(await store.deleteTrigger(a.id)).toBe(false);
  });

  it('finds due triggers and the next run time, and advances a run only once (compare-and-set)', async () => {
    const store = ctx.store();
    const early = trigger(ctx.now(), { next_run_at: '2026-02-01T09:00:00.000Z' });
    const late = trigger(ctx.now(), { next_run_at: '2026-02-03T09:00:00.000Z' });
    const paused = trigger(ctx.now(), { enabled: false, next_run_at: '2026-01-01T00:00:00.000Z' });
    for (const t of [late, early, paused]) await store.createTrigger(t);
    expect(await store.nextTriggerRunAt()).toBe(early.next_run_at);
    expect((await store.dueTriggers('2026-01-31T00:00:00.000Z')).map((t) => t.id)).toEqual([]);
    expect((await store.dueTriggers('2026-02-01T09:00:00.000Z')).map((t) => t.id)).toEqual([early.id]);
    expect((await store.dueTriggers('2026-03-01T00:00:00.000Z')).map((t) => t.id)).toEqual([early.id, late.id]);
    const patch = { next_run_at: '2026-02-02T09:00:00.000Z', last_run_at: '2026-02-01T09:00:00.010Z' };
    expect(await store.advanceTrigger(early.id, early.next_run_at!, patch)).toBe(true);
    // A second replica that read the same next_run_at loses.
    expect(await store.advanceTrigger(early.id, early.next_run_at!, patch)).toBe(false);
    expect(await store.getTrigger(early.id)).toMatchObject(patch);
    expect(await store.advanceTrigger(paused.id, paused.next_run_at!, patch)).toBe(false);
    expect(await store.nextTriggerRunAt()).toBe(patch.next_run_at);
  });

  it('keeps a bounded run log, newest first, and refuses a repeated delivery id per trigger', async () => {
    const store = ctx.store();
    const t = trigger(ctx.now(), { kind: 'webhook' });
    const other = trigger(ctx.now(), { kind: 'webhook' });
    await store.createTrigger(t);
    await store.createTrigger(other);
    const runs: TriggerRunRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const r = run(t.id, ctx.now(), {
        source: 'webhook',
        delivery_id: `msg_${i}`,
        outcome: i === 2 ? 'failed' : 'sent',
        reason: i === 2 ? 'session terminated' : null,
      });
      runs.push(r);
      await store.recordTriggerRun(r, 3);
    }
    const all = await store.listTriggerRuns(t.id, { limit: 10 });
    expect(all.data).toEqual([runs[4], runs[3], runs[2]]);
    const p1 = await store.listTriggerRuns(t.id, { limit: 2 });
    expect(p1.data.map((r) => r.id)).toEqual([runs[4]!.id, runs[3]!.id]);
    const p2 = await store.listTriggerRuns(t.id, { limit: 2, page: p1.next! });
    expect(p2.data.map((r) => r.id)).toEqual([runs[2]!.id]);
    expect(p2.next).toBeNull();
    await expect(store.recordTriggerRun(run(t.id, ctx.now(), { delivery_id: 'msg_4' }), 3)).rejects.toBeInstanceOf(
      DuplicateDeliveryError,
    );
    // The same delivery id on another trigger, and runs without one, are fine.
    await store.recordTriggerRun(run(other.id, ctx.now(), { delivery_id: 'msg_4' }), 3);
    await store.recordTriggerRun(run(t.id, ctx.now()), 3);
    await store.recordTriggerRun(run(t.id, ctx.now()), 3);
    expect((await store.listTriggerRuns(t.id, { limit: 10 })).data).toHaveLength(3);
  });

  it('finishes a pending run', async () => {
    const store = ctx.store();
    const t = trigger(ctx.now());
    await store.createTrigger(t);
    const r = run(t.id, ctx.now(), { outcome: 'pending', event_id: null });
    await store.recordTriggerRun(r, 10);
    expect((await store.listTriggerRuns(t.id, { limit: 1 })).data[0]).toEqual(r);
    const done = { outcome: 'failed' as const, reason: 'archived', event_id: null };
    await store.finishTriggerRun(r.id, done);
    expect((await store.listTriggerRuns(t.id, { limit: 1 })).data[0]).toEqual({ ...r, ...done });
  });
}
