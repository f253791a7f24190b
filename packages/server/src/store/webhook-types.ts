import type { SealedSecret } from '../vaults/crypto.js';

/** Webhook records as the store keeps them. The store never sees a plaintext signing secret: only sealed ones. */

export interface WebhookEndpointRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  /** `whk_…` */
  id: string;
  url: string;
  description: string | null;
  /** Event types delivered to this endpoint; null delivers every type. */
  event_types: string[] | null;
  enabled: boolean;
  metadata: Record<string, string>;
  /** The `whsec_…` signing secret, sealed (AES-256-GCM, AAD bound to the endpoint id). */
  secret: SealedSecret;
  /** The secret replaced by the last rotation, still used to sign until `previous_secret_expires_at`. */
  previous_secret: SealedSecret | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One message to one endpoint, with the outcome of its latest attempt. */
export interface WebhookDeliveryRecord {
  /** `whmsg_…`: sent as `webhook-id`, the same on every attempt so receivers can deduplicate. */
  id: string;
  endpoint_id: string;
  event_type: string;
  session_id: string | null;
  /** The exact JSON body every attempt sends (and signs). */
  payload: string;
  status: WebhookDeliveryStatus;
  /** Attempts made so far (a redelivery starts again from 0). */
  attempts: number;
  /** When the next attempt is due; null once delivered or failed. */
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  /** HTTP status of the latest attempt's response; null when none came (refused, timed out, unreachable). */
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

/** What settling a claimed delivery writes: the outcome of one attempt, or nothing (a release). */
export type WebhookDeliveryOutcome = Pick<
  WebhookDeliveryRecord,
  'status' | 'attempts' | 'next_attempt_at' | 'last_attempt_at' | 'last_status' | 'last_error' | 'delivered_at'
>;

/** A delivery claimed by one worker until `lease_until`; settling it needs the same `lease`. */
export interface ClaimedDelivery {
  delivery: WebhookDeliveryRecord;
  lease: string;
}

export interface WebhookListOptions {
  limit: number;
  page?: string | undefined;
  /** Only this tenant's endpoints (the tenant-scoped store always sets it). */
  tenant?: string | undefined;
}

export interface WebhookDeliveryListOptions {
  limit: number;
  page?: string | undefined;
  status?: WebhookDeliveryStatus | undefined;
}

/** Thrown by a redelivery while a worker holds the delivery (an attempt is in flight). */
export class WebhookDeliveryInFlightError extends Error {
  constructor() {
    super('an attempt of this delivery is in flight');
  }
}
