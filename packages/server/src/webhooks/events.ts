import type { SessionRecord } from '../store/store.js';
import type { WireEvent } from '../sessions/event-log.js';

/** The event types webhooks deliver; an endpoint's `event_types` filter picks among these. */
export const WEBHOOK_EVENT_TYPES = [
  'session.created',
  'session.status_running',
  'session.status_idle',
  'session.status_terminated',
  'session.archived',
  'session.deleted',
  'session.budget_reached',
  'session.error',
  'session.hibernated',
  'session.resumed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Lifecycle changes that are not session events (the session service announces them). */
export type LifecycleType =
  'session.created' | 'session.archived' | 'session.deleted' | 'session.hibernated' | 'session.resumed';

const FROM_EVENTS = new Set<string>([
  'session.status_running',
  'session.status_idle',
  'session.status_terminated',
  'session.error',
]);

/**
 * The webhook event types a persisted session event stands for: its own type for status changes and errors, plus
 * `session.budget_reached` for an idle whose stop reason is `budget_reached` (the turn ended on the budget).
 */
export function webhookTypesOf(event: WireEvent): WebhookEventType[] {
  if (!FROM_EVENTS.has(event.type)) return [];
  const types = [event.type as WebhookEventType];
  const stop = event.stop_reason as { type?: unknown } | undefined;
  if (event.type === 'session.status_idle' && stop?.type === 'budget_reached') types.push('session.budget_reached');
  return types;
}

/** Standard Webhooks payload: `{type, timestamp, data}`. */
export interface WebhookPayload {
  type: WebhookEventType;
  /** When the event happened (RFC 3339). */
  timestamp: string;
  data: {
    session_id: string;
    agent_id: string | null;
    agent_version: number | null;
    environment_id: string | null;
    /** The session event behind it (status changes, errors, deletion). */
    event?: WireEvent;
    /** The session as it is after the change (created, archived). */
    status?: string;
    archived_at?: string | null;
  };
}

/** The `data.*` ids of a session (null when the session is gone). */
export function sessionData(
  sessionId: string,
  s: Pick<SessionRecord, 'agent_id' | 'agent_version' | 'environment_id'> | undefined,
): WebhookPayload['data'] {
  return {
    session_id: sessionId,
    agent_id: s?.agent_id ?? null,
    agent_version: s?.agent_version ?? null,
    environment_id: s?.environment_id ?? null,
  };
}
