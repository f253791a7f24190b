import type { Store } from '../store/store.js';
import type { KeyScope } from '../store/tenant-types.js';
import { keyMatches, prefixOf } from './keys.js';

/** Who a presented key is: its scope, its tenant (null for admin keys) and what the audit log calls it. */
export interface KeyIdentity {
  scope: KeyScope;
  /** The key's own tenant; null for admin keys (they act on `default` or the tenant a request names). */
  tenantId: string | null;
  /** The stored key's id; null for the bootstrap admin key. */
  keyId: string | null;
  /** Visible prefix (`bsk_live_XXXXXXXX`), or `bootstrap-admin` for the configured admin key. */
  keyPrefix: string;
}

export const BOOTSTRAP_PREFIX = 'bootstrap-admin';

/**
 * Resolves a presented API key: the bootstrap admin key (config / `<dataDir>/admin.key`, checked in constant time),
 * else a stored key found by its prefix and compared by hash. Revoked keys, keys past `expires_at` and keys of an
 * archived tenant resolve to undefined (401).
 */
export function keyResolver(
  store: Store,
  isAdminKey: (presented: string) => boolean,
  now: () => string,
): (presented: string) => Promise<KeyIdentity | undefined> {
  return async (presented) => {
    if (isAdminKey(presented)) return { scope: 'admin', tenantId: null, keyId: null, keyPrefix: BOOTSTRAP_PREFIX };
    const prefix = prefixOf(presented);
    if (!prefix) return undefined;
    const k = await store.findApiKeyByPrefix(prefix);
    if (!k || !keyMatches(presented, k.hash)) return undefined;
    const t = now();
    if (k.revoked_at !== null || (k.expires_at !== null && k.expires_at <= t)) return undefined;
    if (k.tenant_id !== null) {
      const tenant = await store.getTenant(k.tenant_id);
      if (!tenant || tenant.archived_at !== null) return undefined;
    }
    return { scope: k.scope, tenantId: k.tenant_id, keyId: k.id, keyPrefix: k.prefix };
  };
}
