import type { SealedSecret } from '../vaults/crypto.js';
import type { JsonObject } from './types.js';

/** Vault records as the store keeps them. The store never sees a plaintext secret: only sealed ones. */

export interface VaultRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  id: string;
  display_name: string;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface VaultCredentialRecord {
  id: string;
  vault_id: string;
  display_name: string | null;
  metadata: Record<string, string>;
  /** The public part of `auth`, exactly as served (no secret field). */
  auth: JsonObject;
  /**
   * What the credential is matched on: `url:<mcp_server_url>` or `env:<secret_name>`. Unique among the active
   * credentials of one vault.
   */
  match_key: string;
  /** The secret fields, sealed (AES-256-GCM); null once the credential is archived (archiving purges it). */
  secret: SealedSecret | null;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

/** Thrown when an active credential of the vault already has the same match key. */
export class DuplicateCredentialError extends Error {
  constructor(readonly matchKey: string) {
    super('an active credential of this vault already has this match key');
  }
}
