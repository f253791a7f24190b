import type { SealedSecret } from '../vaults/crypto.js';

/** What starts a trigger's fires: a cron schedule, or deliveries to its webhook URL. */
export type TriggerKind = 'schedule' | 'webhook';

/** A trigger as the store keeps it (see triggers/README.md). */
export interface TriggerRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  /** `trg_…` */
  id: string;
  kind: TriggerKind;
  /** The session its fires post a `user.message` into (not a foreign key: a trigger outlives a deleted session). */
  session_id: string;
  name: string | null;
  /** The message text (schedule) or the instructions placed before the payload (webhook). */
  prompt: string;
  enabled: boolean;
  /** Cron expression and IANA timezone; set for `schedule` triggers only. */
  cron: string | null;
  timezone: string | null;
  /** The webhook secret, sealed with the vault master key; set for `webhook` triggers only. */
  secret: SealedSecret | null;
  /** When the scheduler fires it next (null: not scheduled, e.g. paused or a webhook trigger). */
  next_run_at: string | null;
  last_run_at: string | null;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
}

/** What became of one fire; `pending` while its message is being posted. */
export type TriggerRunOutcome = 'pending' | 'sent' | 'skipped' | 'failed';

/** One fire of a trigger, kept in its run log (newest runs are kept, old ones pruned). */
export interface TriggerRunRecord {
  /** `trgrun_…` */
  id: string;
  trigger_id: string;
  /** `schedule`, `catch_up` (a run missed while berthd was down) or `webhook`. */
  source: 'schedule' | 'catch_up' | 'webhook';
  /** The time the schedule asked for (schedule and catch-up fires). */
  scheduled_for: string | null;
  fired_at: string;
  outcome: TriggerRunOutcome;
  /** Why a fire was skipped or failed (null when sent). */
  reason: string | null;
  /** The `user.message` event the fire appended (null unless sent). */
  event_id: string | null;
  /** The sender's `webhook-id` of a signed delivery (unique per trigger: a replay is recognised). */
  delivery_id: string | null;
}

/** Options of `listTriggers`: newest first, keyset pages, optionally one session's. */
export interface TriggerListOptions {
  limit: number;
  page?: string | undefined;
  sessionId?: string | undefined;
  /** Only this tenant's triggers (the tenant-scoped store always sets it). */
  tenant?: string | undefined;
}

/** Options of `listTriggerRuns`: newest first. */
export interface TriggerRunListOptions {
  limit: number;
  page?: string | undefined;
}

/** Thrown by `recordTriggerRun` when the trigger already has a run with that `delivery_id`. */
export class DuplicateDeliveryError extends Error {}
