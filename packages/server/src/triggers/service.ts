import { newId } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import { patchMetadata } from '../api/common.js';
import type { TriggerCreate, TriggerUpdate } from '../api/triggers-schema.js';
import { ApiError, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Store, TriggerRecord } from '../store/store.js';
import type { VaultCipher } from '../vaults/crypto.js';
import { compileSchedule } from './cron.js';
import { nextRunAt, type TriggerScheduler } from './scheduler.js';
import { newWebhookSecret } from './webhook-auth.js';

/** The AAD of a webhook trigger's sealed secret: binds the ciphertext to its trigger. */
export function triggerSecretAad(triggerId: string): string {
  return `berth/trigger-webhook-secret/v1/${triggerId}`;
}

/** A trigger and, right after create or rotate only, its webhook secret in clear. */
export interface WithSecret {
  trigger: TriggerRecord;
  secret?: string;
}

/**
 * Trigger management: create (validating the schedule and the session, generating and sealing the webhook secret),
 * update (pause/resume, re-schedule), delete, rotate a secret. Tells the scheduler about every change. Routes pass
 * the caller's tenant-scoped store, so another tenant's trigger or session is a 404; the default is the unscoped
 * store (system callers: the webhook receiver).
 */
export class TriggerService {
  constructor(
    private readonly store: Store,
    private readonly cipher: VaultCipher,
    private readonly scheduler: Pick<TriggerScheduler, 'changed'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async load(id: string, store: Store = this.store): Promise<TriggerRecord> {
    const t = await store.getTrigger(id);
    if (!t) throw notFound('trigger', id);
    return t;
  }

  /** The webhook secret of a trigger, opened (undefined for schedule triggers). */
  secretOf(t: TriggerRecord): string | undefined {
    return t.secret ? this.cipher.open(t.secret, triggerSecretAad(t.id)) : undefined;
  }

  async create(b: TriggerCreate, store: Store = this.store): Promise<WithSecret> {
    const session = await store.getSession(b.session_id);
    if (!session) {
      throw new ApiError(
        'not_found',
        `No session with id '${b.session_id}' exists. A trigger posts into an existing session: create the session first (a persistent one suits triggers).`,
      );
    }
    if (session.archived_at)
      throw new ApiError('session_archived', `Session '${b.session_id}' is archived; a trigger needs a live session.`);
    if (session.status === 'terminated') {
      throw new ApiError(
        'session_terminated',
        `Session '${b.session_id}' has terminated; create a new session for the trigger.`,
      );
    }
    const now = this.clock();
    const id = newId('trigger');
    const secret = b.kind === 'webhook' ? newWebhookSecret() : undefined;
    const t: TriggerRecord = {
      id,
      kind: b.kind,
      session_id: b.session_id,
      name: b.name ?? null,
      prompt: b.prompt,
      enabled: b.enabled,
      cron: b.kind === 'schedule' ? b.schedule.cron : null,
      timezone: b.kind === 'schedule' ? b.schedule.timezone : null,
      secret: secret ? this.cipher.seal(secret, triggerSecretAad(id)) : null,
      next_run_at: null,
      last_run_at: null,
      metadata: b.metadata ?? {},
      created_at: now,
      updated_at: now,
    };
    if (t.cron !== null) compileSchedule(t.cron, t.timezone!); // 400 invalid_schedule before anything is stored
    t.next_run_at = this.nextRun(t);
    await store.createTrigger(t);
    void this.scheduler.changed();
    this.logger.info({ triggerId: id, kind: t.kind, sessionId: t.session_id }, 'trigger created');
    return { trigger: t, ...(secret ? { secret } : {}) };
  }

  async update(id: string, b: TriggerUpdate, store: Store = this.store): Promise<TriggerRecord> {
    const t = await this.load(id, store);
    if (b.schedule && t.kind !== 'schedule') {
      throw new ApiError(
        'invalid_request',
        `Trigger '${id}' is a webhook trigger; only schedule triggers have a schedule.`,
      );
    }
    const next: TriggerRecord = {
      ...t,
      name: b.name === undefined ? t.name : b.name,
      prompt: b.prompt ?? t.prompt,
      enabled: b.enabled ?? t.enabled,
      cron: b.schedule?.cron ?? t.cron,
      timezone: b.schedule?.timezone ?? t.timezone,
      metadata: patchMetadata(t.metadata, b.metadata ?? undefined),
    };
    if (next.kind === 'schedule' && next.prompt === '')
      throw new ApiError('invalid_request', 'prompt: a schedule trigger needs a non-empty prompt.');
    if (next.cron !== null) compileSchedule(next.cron, next.timezone!);
    const rescheduled = next.cron !== t.cron || next.timezone !== t.timezone || next.enabled !== t.enabled;
    // Resuming or re-scheduling counts from now: runs missed while paused are not caught up.
    if (rescheduled) next.next_run_at = this.nextRun(next);
    if (JSON.stringify(next) === JSON.stringify(t)) return t;
    next.updated_at = this.clock();
    await store.putTrigger(next);
    if (rescheduled) void this.scheduler.changed();
    return next;
  }

  async delete(id: string, store: Store = this.store): Promise<void> {
    await this.load(id, store);
    await store.deleteTrigger(id);
    void this.scheduler.changed();
  }

  /** Replaces a webhook trigger's secret; the old one stops working at once. */
  async rotateSecret(id: string, store: Store = this.store): Promise<WithSecret> {
    const t = await this.load(id, store);
    if (t.kind !== 'webhook')
      throw new ApiError('invalid_request', `Trigger '${id}' is a schedule trigger; it has no secret.`);
    const secret = newWebhookSecret();
    const next = { ...t, secret: this.cipher.seal(secret, triggerSecretAad(id)), updated_at: this.clock() };
    await store.putTrigger(next);
    return { trigger: next, secret };
  }

  private nextRun(t: TriggerRecord): string | null {
    return t.enabled && t.kind === 'schedule' ? nextRunAt(t, new Date(Date.parse(this.clock()))) : null;
  }
}
