import { z } from 'zod';
import type { ApiKeyRecord, AuditRecord, TenantRecord } from '../store/store.js';
import { MetadataPatchSchema, MetadataSchema, bool, limit, rangeQuery } from './common.js';
import { monetaryAmount } from '../budget/prices.js';
import type { TenantSpend } from '../budget/tenant-budget.js';

/** Bodies, queries and wire forms of the admin API (`/v1/berth/admin/...`, admin.ts). */

/** A tenant's monthly budget: the same money shape as a session budget's `max_list_cost` (integer cents). */
export const TenantBudgetSchema = z.strictObject({
  type: z.literal('monthly'),
  max_list_cost: z.strictObject({
    amount: z
      .string()
      .regex(/^(0|[1-9]\d{0,14})$/, 'amount is an integer in cents as a string, like "50000" for $500.00'),
    currency: z.literal('USD'),
  }),
});

export const TenantCreateSchema = z.strictObject({
  name: z.string().min(1).max(256),
  metadata: MetadataSchema.optional(),
  budget: TenantBudgetSchema.nullable().optional(),
});

/** Changes the given fields; `budget: null` removes the budget. */
export const TenantUpdateSchema = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  /** A patch: a null value deletes the key. */
  metadata: MetadataPatchSchema.optional(),
  budget: TenantBudgetSchema.nullable().optional(),
});

/** Longest grace period of a rotated key: a week. */
export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

export const KeyCreateSchema = z
  .strictObject({
    scope: z.enum(['admin', 'read', 'write']),
    tenant_id: z.string().min(1).max(128).optional(),
    name: z.string().min(1).max(256).optional(),
    expires_at: z.iso
      .datetime({ offset: true })
      .transform((v) => new Date(v).toISOString())
      .optional(),
  })
  .refine((b) => (b.scope === 'admin') === (b.tenant_id === undefined), {
    message: 'read and write keys need a tenant_id; admin keys take none (they pick a tenant per request)',
    path: ['tenant_id'],
  });

export const KeyRotateSchema = z.strictObject({
  /** How long the old key keeps working; 0 (the default) revokes it at once. */
  grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional(),
});

const page = z.string().max(2048).optional();

export const TenantListQuery = z.object({ limit: limit(1000, 20), page, include_archived: bool.optional() });
export const KeyListQuery = z.object({
  limit: limit(1000, 20),
  page,
  tenant_id: z.string().max(128).optional(),
  include_inactive: bool.optional(),
});
export const AuditListQuery = z.object({
  limit: limit(1000, 100),
  page,
  tenant_id: z.string().max(128).optional(),
  ...rangeQuery('created_at'),
});

/** A tenant; with `spend`, also this month's spend against its budget (retrieve and update answer with it). */
export function serializeTenant(t: TenantRecord, spend?: TenantSpend): object {
  return {
    type: 'tenant',
    ...t,
    ...(spend
      ? {
          spend: {
            month: spend.month,
            list_cost: monetaryAmount(spend.spentCents),
            resets_at: spend.resetsAt,
            budget_reached: spend.capCents !== null && spend.spentCents >= spend.capCents,
          },
        }
      : {}),
  };
}

/** A key as lists show it: prefix, never the hash; `status` says whether it works now. */
export function serializeKey(k: ApiKeyRecord, now: string): object {
  const status =
    k.revoked_at !== null ? 'revoked' : k.expires_at !== null && k.expires_at <= now ? 'expired' : 'active';
  return {
    id: k.id,
    type: 'api_key',
    name: k.name,
    prefix: k.prefix,
    scope: k.scope,
    tenant_id: k.tenant_id,
    status,
    created_at: k.created_at,
    expires_at: k.expires_at,
    revoked_at: k.revoked_at,
    replaced_by: k.replaced_by,
  };
}

export function serializeAudit(a: AuditRecord): object {
  return { type: 'audit_entry', ...a };
}
