import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.js';
import { MetadataPatchSchema, MetadataSchema, limit } from './common.js';

/** Request shapes of the webhook routes (`/v1/berth/webhooks`, a Berth extension). */

/** An http(s) URL; where it may point is checked separately (webhooks/target.ts) against the server's config. */
const WebhookUrl = z.string().min(1).max(2048);

/** A non-empty set of known event types; null (or absent on create) means every type. */
const EventTypes = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1, 'list at least one event type, or send null for all of them')
  .max(WEBHOOK_EVENT_TYPES.length)
  .transform((t) => [...new Set(t)]);

export const WebhookCreateSchema = z.strictObject({
  url: WebhookUrl,
  description: z.string().max(1024).nullable().optional(),
  event_types: EventTypes.nullable().optional(),
  enabled: z.boolean().optional(),
  metadata: MetadataSchema.optional(),
});

export const WebhookUpdateSchema = z.strictObject({
  url: WebhookUrl.optional(),
  description: z.string().max(1024).nullable().optional(),
  event_types: EventTypes.nullable().optional(),
  enabled: z.boolean().optional(),
  metadata: MetadataPatchSchema.nullable().optional(),
});

export const RotateSecretSchema = z.strictObject({
  /** How long the replaced secret keeps signing next to the new one (seconds; 0 ends it now). */
  grace_period_s: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional(),
});

export const WebhookListQuerySchema = z.strictObject({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
});

export const DeliveryListQuerySchema = z.strictObject({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
});
