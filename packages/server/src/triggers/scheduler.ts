import type { Logger } from '../logger.js';
import type { Store, TriggerRecord } from '../store/store.js';
import { systemTimers, type Timers } from '../sessions/guard.js';
import { compileSchedule } from './cron.js';
import type { TriggerFirer } from './fire.js';
import { scheduleText } from './message.js';

/**
 * Longest the one timer sleeps before looking at the store again: triggers created or changed by another berthd
 * replica (sharing PostgreSQL) are picked up within this, and wall-clock jumps cannot strand a far-off timer.
 */
export const MAX_SLEEP_MS = 60_000;

/** The next time a schedule trigger fires after `after`, as stored (ISO), or null when it never fires again. */
export function nextRunAt(t: Pick<TriggerRecord, 'cron' | 'timezone'>, after: Date): string | null {
  if (t.cron === null) return null;
  return (
    compileSchedule(t.cron, t.timezone ?? 'UTC')
      .nextAfter(after)
      ?.toISOString() ?? null
  );
}

/**
 * Fires schedule triggers with one timer, armed for the earliest `next_run_at` in the store.
 *
 * - Every fire first moves `next_run_at` on with a compare-and-set (`advanceTrigger`), so of several replicas only
 *   one fires a given run, and a crash after the move loses that one run rather than repeating it.
 * - Runs missed while berthd was down (or while it slept) fire **once at most**: on start-up every overdue trigger
 *   fires once (source `catch_up`, `scheduled_for` = the first missed time) and its next run is computed from now.
 * - A trigger whose session is running a turn is skipped, not queued (see fire.ts).
 */
export class TriggerScheduler {
  private timer: unknown;
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private startedAt = 0;

  constructor(
    private readonly store: Store,
    private readonly firer: Pick<TriggerFirer, 'fire'>,
    private readonly now: () => number,
    private readonly logger: Logger,
    private readonly timers: Timers = systemTimers,
  ) {}

  /** Fires what is overdue (once each), then arms the timer. */
  async start(): Promise<void> {
    this.startedAt = this.now();
    await this.tick();
  }

  /**
   * Something changed (a trigger created, edited, paused, resumed or deleted): fires what is due and re-arms for the
   * earliest run. Resolves when that pass is done (callers need not wait).
   */
  changed(): Promise<void> {
    return this.stopped ? Promise.resolve() : this.tick();
  }

  /** Stops the timer and waits for a fire in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    await this.ticking;
  }

  /** Runs one pass (fire what is due, re-arm); a pass asked for while one runs runs again right after it. */
  private tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        await this.pass().catch((err: unknown) => this.logger.error({ err }, 'trigger scheduler pass failed'));
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    this.timers.clearTimeout(this.timer);
    const now = this.now();
    for (const t of await this.store.dueTriggers(new Date(now).toISOString())) {
      if (this.stopped) return;
      await this.fireDue(t, now);
    }
    if (this.stopped) return;
    const next = await this.store.nextTriggerRunAt();
    if (next === undefined) return;
    const delay = Math.min(MAX_SLEEP_MS, Math.max(0, Date.parse(next) - this.now()));
    this.timer = this.timers.setTimeout(() => void this.changed(), delay);
  }

  private async fireDue(t: TriggerRecord, now: number): Promise<void> {
    const due = t.next_run_at!;
    let next: string | null;
    try {
      next = t.kind === 'schedule' ? nextRunAt(t, new Date(now)) : null;
    } catch (err) {
      // Validated at create; only a changed timezone database can get here. Stop instead of spinning.
      this.logger.error({ err, triggerId: t.id }, 'a stored schedule no longer compiles; disabling the trigger');
      await this.store.putTrigger({ ...t, enabled: false, next_run_at: null });
      return;
    }
    if (!(await this.store.advanceTrigger(t.id, due, { next_run_at: next, last_run_at: new Date(now).toISOString() })))
      return; // another replica (or a concurrent edit) took this run
    const source = Date.parse(due) < this.startedAt ? 'catch_up' : 'schedule';
    await this.firer.fire(t, { source, text: scheduleText(t), scheduledFor: due, skipIfBusy: true });
  }
}
