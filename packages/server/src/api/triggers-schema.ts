import { z } from 'zod';
import { MetadataPatchSchema, MetadataSchema, limit } from './common.js';

/** Request bodies and queries of the trigger routes (`/v1/berth/triggers`). */

const SessionId = z.string().regex(/^sesn_[0-9A-Za-z]{1,100}$/, "must be a session id ('sesn_…')");
const Name = z.string().min(1).max(255);
/** What the agent is told; a schedule's whole message, or the instructions before a webhook's payload. */
const Prompt = z.string().max(16_384);

export const ScheduleSchema = z.strictObject({
  cron: z.string().min(1).max(200).describe("cron expression, e.g. '0 9 * * 1-5' (5 fields, or 6 with seconds)"),
  timezone: z
    .string()
    .min(1)
    .max(64)
    .default('UTC')
    .describe("IANA timezone the expression is read in, e.g. 'Europe/Paris'"),
});

const common = {
  session_id: SessionId,
  name: Name.nullable().optional(),
  enabled: z.boolean().default(true),
  metadata: MetadataSchema.optional(),
};

export const TriggerCreateSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('schedule'), ...common, prompt: Prompt.min(1), schedule: ScheduleSchema }),
  z.strictObject({ kind: z.literal('webhook'), ...common, prompt: Prompt.default('') }),
]);
export type TriggerCreate = z.output<typeof TriggerCreateSchema>;

export const TriggerUpdateSchema = z.strictObject({
  name: Name.nullable().optional(),
  prompt: Prompt.optional(),
  /** false pauses the trigger, true resumes it (a schedule then fires at its next time from now). */
  enabled: z.boolean().optional(),
  schedule: z
    .strictObject({ cron: ScheduleSchema.shape.cron.optional(), timezone: z.string().min(1).max(64).optional() })
    .optional(),
  metadata: MetadataPatchSchema.nullable().optional(),
});
export type TriggerUpdate = z.output<typeof TriggerUpdateSchema>;

export const TriggerListQuerySchema = z.object({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
  session_id: SessionId.optional(),
});

export const RunListQuerySchema = z.object({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
});
