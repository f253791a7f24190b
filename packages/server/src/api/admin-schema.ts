import { z } from 'zod';
import type { ApiKeyRecord, AuditRecord, TenantRecord } from '../store/store.js';
import { MetadataSchema, bool, limit, rangeQuery } from './common.js';

/** Bodies, queries and wire forms of the admin API (`/v1/berth/admin/...`, admin.ts). */

export const TenantCreateSchema = z.strictObject({
  name: z.string().min(1).max(256),
  metadata: MetadataSchema.optional(),
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

export function serializeTenant(t: TenantRecord): object {
  return { type: 'tenant', ...t };
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
