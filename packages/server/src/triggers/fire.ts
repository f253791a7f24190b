import { newId } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SessionService } from '../sessions/service.js';
import type { Store, TriggerRecord, TriggerRunRecord } from '../store/store.js';

/** How many runs each trigger's log keeps (older ones are pruned). */
export const RUN_LOG_SIZE = 200;

/** One fire to perform. */
export interface FireRequest {
  source: TriggerRunRecord['source'];
  text: string;
  scheduledFor?: string | null;
  deliveryId?: string | null;
  /**
   * Schedules skip a fire while the session runs a turn (recorded as `skipped`, reason `session_busy`); webhook
   * deliveries are queued behind the turn like any message, so no payload is dropped. See the triggers ADR.
   */
  skipIfBusy: boolean;
}

/**
 * Posts a trigger's `user.message` into its session through `SessionService.send` (no client needs to be
 * connected) and records the fire in the trigger's run log: `pending` first (so a repeated signed delivery is
 * refused before anything is sent), then `sent` with the event id, `skipped` or `failed` with the reason.
 */
export class TriggerFirer {
  constructor(
    private readonly store: Store,
    private readonly sessions: Pick<SessionService, 'send'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Fires once. Throws DuplicateDeliveryError (nothing sent) when the delivery id was seen before. */
  async fire(t: TriggerRecord, req: FireRequest): Promise<TriggerRunRecord> {
    const run: TriggerRunRecord = {
      id: newId('triggerRun'),
      trigger_id: t.id,
      source: req.source,
      scheduled_for: req.scheduledFor ?? null,
      fired_at: this.clock(),
      outcome: 'pending',
      reason: null,
      event_id: null,
      delivery_id: req.deliveryId ?? null,
    };
    await this.store.recordTriggerRun(run, RUN_LOG_SIZE);
    const result = await this.post(t, req, run.id).catch((err: unknown) => {
      this.logger.error({ err, triggerId: t.id }, 'a trigger fire failed unexpectedly');
      return { outcome: 'failed' as const, reason: 'internal error (logged on the server)', event_id: null };
    });
    await this.store.finishTriggerRun(run.id, result);
    const done = { ...run, ...result };
    const log = { triggerId: t.id, sessionId: t.session_id, runId: run.id, outcome: done.outcome, reason: done.reason };
    if (done.outcome === 'failed') this.logger.warn(log, 'trigger fire failed');
    else this.logger.info(log, 'trigger fired');
    return done;
  }

  private async post(
    t: TriggerRecord,
    req: FireRequest,
    runId: string,
  ): Promise<Pick<TriggerRunRecord, 'outcome' | 'reason' | 'event_id'>> {
    const failed = (reason: string) => ({ outcome: 'failed' as const, reason, event_id: null });
    const session = await this.store.getSession(t.session_id);
    if (!session) {
      // The session can never come back: the trigger stops firing (re-point it with a new trigger).
      const latest = (await this.store.getTrigger(t.id)) ?? t;
      await this.store.putTrigger({ ...latest, enabled: false, next_run_at: null, updated_at: this.clock() });
      return failed(`session_deleted: session '${t.session_id}' no longer exists; the trigger was disabled.`);
    }
    if (session.archived_at) return failed(`session_archived: session '${t.session_id}' is archived.`);
    if (session.status === 'terminated') return failed(`session_terminated: session '${t.session_id}' terminated.`);
    if (req.skipIfBusy && session.status === 'running') {
      return { outcome: 'skipped', reason: 'session_busy: the session was running a turn.', event_id: null };
    }
    const eventId = newId('event');
    try {
      await this.sessions.send(t.session_id, [
        {
          id: eventId,
          type: 'user.message',
          content: [{ type: 'text', text: req.text }],
          // Provenance in the history: which trigger and which run posted this message.
          berth: { trigger: { id: t.id, kind: t.kind, run_id: runId } },
        },
      ]);
    } catch (err) {
      if (err instanceof ApiError) return failed(`${err.code}: ${err.message}`);
      throw err;
    }
    return { outcome: 'sent', reason: null, event_id: eventId };
  }
}
