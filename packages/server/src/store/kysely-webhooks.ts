import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, WebhookDeliveriesTable, WebhookEndpointsTable } from './schema.js';
import type { Page } from './types.js';
import { keysetPage, mapPage, ordPage } from './query.js';
import {
  WebhookDeliveryInFlightError,
  type ClaimedDelivery,
  type WebhookDeliveryListOptions,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
  type WebhookListOptions,
} from './webhook-types.js';

/** The webhooks half of KyselyStore (endpoints and the delivery queue; same code for SQLite and PostgreSQL). */
export class KyselyWebhooks {
  constructor(private readonly db: Kysely<Database>) {}

  async createWebhook(w: WebhookEndpointRecord): Promise<void> {
    await this.db.insertInto('webhook_endpoints').values(toRow(w)).execute();
  }

  async getWebhook(id: string): Promise<WebhookEndpointRecord | undefined> {
    const r = await this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async listWebhooks(opts: WebhookListOptions): Promise<Page<WebhookEndpointRecord>> {
    let q = this.db.selectFrom('webhook_endpoints').selectAll();
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    return mapPage(await keysetPage(q, 'webhook_endpoints', 'desc', opts), fromRow);
  }

  async enabledWebhooks(): Promise<WebhookEndpointRecord[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('enabled', '=', 1)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  async putWebhook(w: WebhookEndpointRecord): Promise<void> {
    // Ownership never changes after creation: a put cannot move an endpoint to another tenant.
    const { tenant_id: _owner, ...row } = toRow(w);
    await this.db.updateTable('webhook_endpoints').set(row).where('id', '=', w.id).execute();
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
      const r = await tx.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async enqueueWebhookDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(deliveries.map((d) => ({ ...d, lease: null, lease_until: null })))
      .execute();
  }

  /**
   * Claims up to `limit` pending deliveries due at `now` (of enabled endpoints) until `leaseUntil`. Each row is
   * claimed by a conditional UPDATE, so two workers (two replicas on one PostgreSQL) never both win one.
   */
  async claimWebhookDeliveries(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    const due = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select('d.id')
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.lease_until', 'is', null), eb('d.lease_until', '<', now)]))
      .where('e.enabled', '=', 1)
      .orderBy('d.next_attempt_at')
      .orderBy('d.ord')
      .limit(limit)
      .execute();
    const claimed: ClaimedDelivery[] = [];
    for (const { id } of due) {
      const lease = randomUUID();
      const r = await this.db
        .updateTable('webhook_deliveries')
        .set({ lease, lease_until: leaseUntil })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .returningAll()
        .executeTakeFirst();
      if (r) claimed.push({ delivery: deliveryFromRow(r), lease });
    }
    return claimed;
  }

  /**
   * Ends a claim: writes the attempt's outcome (or, with null, only releases the lease). False when the lease is no
   * longer held (it expired and another worker claimed the delivery, or it was redelivered meanwhile).
   */
  async settleWebhookDelivery(
    id: string,
    lease: string,
    outcome: WebhookDeliveryOutcome | null,
    now: string,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ ...(outcome ?? {}), lease: null, lease_until: null, updated_at: now })
      .where('id', '=', id)
      .where('lease', '=', lease)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async getWebhookDelivery(endpointId: string, id: string): Promise<WebhookDeliveryRecord | undefined> {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', id)
      .where('endpoint_id', '=', endpointId)
      .executeTakeFirst();
    return r ? deliveryFromRow(r) : undefined;
  }

  async listWebhookDeliveries(
    endpointId: string,
    opts: WebhookDeliveryListOptions,
  ): Promise<Page<WebhookDeliveryRecord>> {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId);
    if (opts.status) q = q.where('status', '=', opts.status);
    return ordPage(q, 'desc', opts, deliveryFromRow);
  }

  /**
   * Makes a delivery due now with a fresh attempt budget. Throws WebhookDeliveryInFlightError while a worker holds
   * it; undefined when the endpoint has no such delivery.
   */
  async redeliverWebhookDelivery(
    endpointId: string,
    id: string,
    now: string,
  ): Promise<WebhookDeliveryRecord | undefined> {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: now, delivered_at: null, updated_at: now })
      .where('id', '=', id)
      .where('endpoint_id', '=', endpointId)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    if (r) return deliveryFromRow(r);
    if (await this.getWebhookDelivery(endpointId, id)) throw new WebhookDeliveryInFlightError();
    return undefined;
  }

  /** Deletes delivered and failed deliveries last updated before `before`; returns how many. */
  async pruneWebhookDeliveries(before: string): Promise<number> {
    const r = await this.db
      .deleteFrom('webhook_deliveries')
      .where('status', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function toRow(w: WebhookEndpointRecord): Insertable<WebhookEndpointsTable> {
  return {
    ...w,
    event_types: w.event_types === null ? null : JSON.stringify(w.event_types),
    enabled: w.enabled ? 1 : 0,
    metadata: JSON.stringify(w.metadata),
    secret: JSON.stringify(w.secret),
    previous_secret: w.previous_secret === null ? null : JSON.stringify(w.previous_secret),
  };
}

function fromRow(r: Selectable<WebhookEndpointsTable>): WebhookEndpointRecord {
  return {
    ...r,
    event_types: r.event_types === null ? null : (JSON.parse(r.event_types) as string[]),
    enabled: Number(r.enabled) === 1,
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    secret: JSON.parse(r.secret) as WebhookEndpointRecord['secret'],
    previous_secret:
      r.previous_secret === null ? null : (JSON.parse(r.previous_secret) as WebhookEndpointRecord['secret']),
  };
}

function deliveryFromRow(r: Selectable<WebhookDeliveriesTable>): WebhookDeliveryRecord {
  return {
    id: r.id,
    endpoint_id: r.endpoint_id,
    event_type: r.event_type,
    session_id: r.session_id,
    payload: r.payload,
    status: r.status as WebhookDeliveryRecord['status'],
    attempts: Number(r.attempts),
    next_attempt_at: r.next_attempt_at,
    last_attempt_at: r.last_attempt_at,
    last_status: r.last_status === null ? null : Number(r.last_status),
    last_error: r.last_error,
    delivered_at: r.delivered_at,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
