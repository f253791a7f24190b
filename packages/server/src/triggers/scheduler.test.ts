import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import { createLogger } from '../logger.js';
import { openSqlite } from '../store/open.js';
import type { Store, TriggerRecord } from '../store/store.js';
import type { FireRequest } from './fire.js';
import { MAX_SLEEP_MS, TriggerScheduler } from './scheduler.js';

/** Timers driven by the test: nothing fires until `due()` runs what is armed. */
class ManualTimers {
  armed = new Map<number, { fn: () => void; ms: number }>();
  private n = 0;
  setTimeout = (fn: () => void, ms: number) => {
    this.armed.set(++this.n, { fn, ms });
    return this.n;
  };
  clearTimeout = (h: unknown) => void this.armed.delete(h as number);
  /** The delay of the one armed timer. */
  delay(): number | undefined {
    expect(this.armed.size).toBeLessThanOrEqual(1);
    return [...this.armed.values()][0]?.ms;
  }
}

/**
 * The scheduler against a real SQLite store, with an injected clock and timers; the firer only records what it was
 * asked to fire (posting into a session is covered end to end in test/triggers.test.ts).
 */
describe('trigger scheduler', () => {
  let dir: string;
  let store: Store;
  let now: number;
  let fired: Array<{ id: string; req: FireRequest }>;
  const log = createLogger('silent');
  const firer = { fire: async (t: TriggerRecord, req: FireRequest) => (fired.push({ id: t.id, req }), {} as never) };
  const scheduler = (timers: ManualTimers) => new TriggerScheduler(store, firer, () => now, log, timers);
  const hourly = (over: Partial<TriggerRecord>): TriggerRecord => ({
    id: newId('trigger'),
    kind: 'schedule',
    session_id: newId('session'),
    name: null,
    prompt: 'tick',
    enabled: true,
    cron: '0 * * * *',
    timezone: 'UTC',
    secret: null,
    next_run_at: null,
    last_run_at: null,
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...over,
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-sched-'));
    store = openSqlite(join(dir, 'b.db'));
    await store.migrate();
    fired = [];
    now = Date.parse('2026-06-01T10:20:00.000Z');
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('arms one timer for the earliest run (at most MAX_SLEEP_MS away) and fires when it is due', async () => {
    const t = hourly({ next_run_at: '2026-06-01T11:00:00.000Z' });
    await store.createTrigger(t);
    await store.createTrigger(hourly({ next_run_at: '2026-06-01T12:00:00.000Z' }));
    const timers = new ManualTimers();
    const s = scheduler(timers);
    await s.start();
    expect(fired).toEqual([]);
    expect(timers.delay()).toBe(MAX_SLEEP_MS);
    now = Date.parse('2026-06-01T10:59:30.000Z');
    await s.changed();
    expect(fired).toEqual([]);
    expect(timers.delay()).toBe(30_000);
    now = Date.parse('2026-06-01T11:00:00.004Z');
    for (const { fn } of timers.armed.values()) fn();
    await s.changed();
    expect(fired.map((f) => [f.id, f.req.source, f.req.scheduledFor, f.req.skipIfBusy])).toEqual([
      [t.id, 'schedule', '2026-06-01T11:00:00.000Z', true],
    ]);
    expect(await store.getTrigger(t.id)).toMatchObject({
      next_run_at: '2026-06-01T12:00:00.000Z',
      last_run_at: '2026-06-01T11:00:00.004Z',
    });
    await s.stop();
    expect(timers.armed.size).toBe(0);
  });

  it('fires runs missed while berthd was down once, then counts from now', async () => {
    const t = hourly({ next_run_at: '2026-06-01T06:00:00.000Z' }); // 06:00 … 10:00 were missed
    const paused = hourly({ enabled: false, next_run_at: '2026-06-01T06:00:00.000Z' });
    await store.createTrigger(t);
    await store.createTrigger(paused);
    const timers = new ManualTimers();
    const s = scheduler(timers);
    await s.start();
    expect(fired.map((f) => [f.id, f.req.source, f.req.scheduledFor])).toEqual([
      [t.id, 'catch_up', '2026-06-01T06:00:00.000Z'],
    ]);
    expect((await store.getTrigger(t.id))?.next_run_at).toBe('2026-06-01T11:00:00.000Z');
    // The timer then fires the next run on time, as a normal schedule fire.
    now = Date.parse('2026-06-01T11:00:00.001Z');
    for (const { fn } of timers.armed.values()) fn();
    await s.changed();
    await s.stop();
    expect(fired.slice(1).map((f) => [f.req.source, f.req.scheduledFor])).toEqual([
      ['schedule', '2026-06-01T11:00:00.000Z'],
    ]);
  });

  it('of two replicas on one store, only one fires a given run', async () => {
    const t = hourly({ next_run_at: '2026-06-01T10:00:00.000Z' });
    await store.createTrigger(t);
    const a = scheduler(new ManualTimers());
    const b = scheduler(new ManualTimers());
    await Promise.all([a.start(), b.start()]);
    expect(fired.map((f) => f.id)).toEqual([t.id]);
    await Promise.all([a.stop(), b.stop()]);
  });
});
