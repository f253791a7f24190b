import { newId } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import type { Logger } from '../logger.js';
import type { EventTap, WireEvent } from '../sessions/event-log.js';
import { DEFAULT_TENANT, type SessionRecord, type Store, type WebhookDeliveryRecord } from '../store/store.js';
import {
  sessionData,
  webhookTypesOf,
  type LifecycleType,
  type WebhookEventType,
  type WebhookPayload,
} from './events.js';

/**
 * Turns session events into queued deliveries: one row per matching enabled endpoint of the session's tenant, written to the store (the
 * durable queue) in the order the events happened. It is the EventLog's tap, so it runs after each event is
 * persisted; a crash between the two loses that event's deliveries (see the webhooks ADR).
 */
export class WebhookFanout implements EventTap {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Called after deliveries were queued (the worker attempts them at once). */
    private readonly onQueued: () => void,
  ) {}

  event(sessionId: string, event: WireEvent): void {
    const types = webhookTypesOf(event);
    if (types.length === 0) return;
    const at = typeof event.processed_at === 'string' ? event.processed_at : this.clock();
    this.queue(types, sessionId, at, async () => {
      const s = await this.store.getSession(sessionId);
      // A session deleted meanwhile has no known owner: its event goes to no endpoint rather than a wrong one.
      return s?.tenant_id === undefined
        ? undefined
        : { tenant: s.tenant_id, data: { ...sessionData(sessionId, s), event } };
    });
  }

  lifecycle(type: LifecycleType, session: SessionRecord): void {
    const at = type === 'session.archived' ? (session.archived_at ?? this.clock()) : this.clock();
    this.queue([type], session.id, at, () =>
      Promise.resolve({
        tenant: session.tenant_id ?? DEFAULT_TENANT,
        data: {
          ...sessionData(session.id, session),
          ...(type === 'session.deleted' ? {} : { status: session.status, archived_at: session.archived_at }),
        },
      }),
    );
  }

  /** Resolves when everything handed over so far is queued (or failed to be). */
  flush(): Promise<void> {
    return this.chain;
  }

  private queue(
    types: WebhookEventType[],
    sessionId: string,
    timestamp: string,
    load: () => Promise<{ tenant: string; data: WebhookPayload['data'] } | undefined>,
  ): void {
    this.chain = this.chain
      .then(async () => {
        const all = await this.store.enabledWebhooks();
        if (all.length === 0) return;
        const loaded = await load();
        if (!loaded) return;
        // An endpoint hears only its own tenant's sessions.
        const endpoints = all.filter((e) => (e.tenant_id ?? DEFAULT_TENANT) === loaded.tenant);
        const rows: WebhookDeliveryRecord[] = [];
        for (const type of types) {
          const targets = endpoints.filter((e) => e.event_types === null || e.event_types.includes(type));
          if (targets.length === 0) continue;
          const payload = JSON.stringify({ type, timestamp, data: loaded.data } satisfies WebhookPayload);
          const now = this.clock();
          for (const e of targets) rows.push(delivery(e.id, type, sessionId, payload, now));
        }
        if (rows.length === 0) return;
        await this.store.enqueueWebhookDeliveries(rows);
        this.onQueued();
      })
      .catch((err: unknown) => {
        this.logger.error({ err, sessionId, types }, 'could not queue webhook deliveries');
      });
  }
}

function delivery(
  endpointId: string,
  type: string,
  sessionId: string,
  payload: string,
  now: string,
): WebhookDeliveryRecord {
  return {
    id: newId('webhookMessage'),
    endpoint_id: endpointId,
    event_type: type,
    session_id: sessionId,
    payload,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    last_attempt_at: null,
    last_status: null,
    last_error: null,
    delivered_at: null,
    created_at: now,
    updated_at: now,
  };
}
