import type { RangeFilter } from './types.js';

/** Tenants, API keys and the audit log as the store keeps them (migration 0008_tenants). */

/** The built-in tenant: rows that existed before tenants, and what the bootstrap admin key acts on by default. */
export const DEFAULT_TENANT = 'default';

/**
 * A tenant's monthly budget: once the list cost of its model tokens in the current UTC calendar month reaches
 * `max_list_cost` (integer cents as a string, like a session budget), its sessions get no more model requests.
 */
export interface TenantBudget {
  type: 'monthly';
  max_list_cost: { amount: string; currency: 'USD' };
}

export interface TenantRecord {
  id: string;
  name: string;
  metadata: Record<string, string>;
  budget: TenantBudget | null;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

/** What a key may do: `admin` everything (any tenant, admin routes); `write` its tenant's API; `read` GETs only. */
export type KeyScope = 'admin' | 'read' | 'write';

/** An API key without its secret: only the SHA-256 of the whole key is kept. */
export interface ApiKeyRecord {
  id: string;
  /** null for admin keys. */
  tenant_id: string | null;
  scope: KeyScope;
  name: string | null;
  /** The visible start of the key (`bsk_live_XXXXXXXX`), unique. */
  prefix: string;
  /** Hex SHA-256 of the whole key. */
  hash: string;
  created_at: string;
  /** The key stops working at this time (set by rotation with a grace period, or at creation). */
  expires_at: string | null;
  revoked_at: string | null;
  /** The key that replaced this one by rotation. */
  replaced_by: string | null;
}

export interface ApiKeyListOptions {
  limit: number;
  page?: string | undefined;
  tenant?: string | undefined;
  /** Revoked and expired keys too. */
  includeInactive?: boolean;
  /** The time `includeInactive: false` compares `expires_at` with. */
  now?: string;
}

/** One mutating API call. */
export interface AuditRecord {
  id: string;
  /** The tenant the call acted on. */
  tenant_id: string | null;
  /** The visible prefix of the caller's key (`bootstrap-admin` for the configured admin key). */
  key_prefix: string | null;
  method: string;
  /** The route pattern (`/v1/agents/:id`), never the raw URL. */
  route: string;
  resource_id: string | null;
  status: number;
  request_id: string;
  created_at: string;
}

export interface AuditListOptions {
  limit: number;
  page?: string | undefined;
  tenant?: string | undefined;
  createdAt?: RangeFilter;
}

/** Thrown when a new key's prefix is already taken (the caller draws another key). */
export class DuplicateKeyPrefixError extends Error {}
