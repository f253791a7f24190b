import type { Insertable, Kysely, Selectable } from 'kysely';
import { parse } from './rows.js';
import type { Database, VaultCredentialsTable, VaultsTable } from './schema.js';
import type { ListOptions, Page } from './types.js';
import { DuplicateCredentialError, type VaultCredentialRecord, type VaultRecord } from './vault-types.js';
import { keysetPage, mapPage, rangeWhere } from './query.js';

/** The vault half of KyselyStore (same code for SQLite and PostgreSQL); KyselyStore delegates here. */
export class KyselyVaults {
  constructor(private readonly db: Kysely<Database>) {}

  async createVault(v: VaultRecord): Promise<void> {
    await this.db.insertInto('vaults').values(vaultToRow(v)).execute();
  }

  async getVault(id: string): Promise<VaultRecord | undefined> {
    const r = await this.db.selectFrom('vaults').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? vaultFromRow(r) : undefined;
  }

  async listVaults(opts: ListOptions): Promise<Page<VaultRecord>> {
    let q = this.db.selectFrom('vaults').selectAll();
    if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return mapPage(await keysetPage(q, 'vaults', 'desc', opts), vaultFromRow);
  }

  async putVault(v: VaultRecord): Promise<void> {
    const { tenant_id: _owner, ...row } = vaultToRow(v);
    await this.db.updateTable('vaults').set(row).where('id', '=', v.id).execute();
  }

  async archiveVault(id: string, now: string): Promise<VaultRecord | undefined> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('vaults')
        .set({ archived_at: now, updated_at: now })
        .where('id', '=', id)
        .where('archived_at', 'is', null)
        .execute();
      await tx
        .updateTable('vault_credentials')
        .set({ ...PURGED, archived_at: now, updated_at: now })
        .where('vault_id', '=', id)
        .where('archived_at', 'is', null)
        .execute();
    });
    return this.getVault(id);
  }

  async deleteVault(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('vault_credentials').where('vault_id', '=', id).execute();
      const r = await tx.deleteFrom('vaults').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async createCredential(c: VaultCredentialRecord): Promise<void> {
    try {
      await this.db.insertInto('vault_credentials').values(credentialToRow(c)).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateCredentialError(c.match_key);
      throw err;
    }
  }

  async getCredential(vaultId: string, id: string): Promise<VaultCredentialRecord | undefined> {
    const r = await this.db
      .selectFrom('vault_credentials')
      .selectAll()
      .where('id', '=', id)
      .where('vault_id', '=', vaultId)
      .executeTakeFirst();
    return r ? credentialFromRow(r) : undefined;
  }

  async listCredentials(vaultId: string, opts: ListOptions): Promise<Page<VaultCredentialRecord>> {
    let q = this.db.selectFrom('vault_credentials').selectAll().where('vault_id', '=', vaultId);
    if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return mapPage(await keysetPage(q, 'vault_credentials', 'desc', opts), credentialFromRow);
  }

  async activeCredentials(vaultId: string): Promise<VaultCredentialRecord[]> {
    const rows = await this.db
      .selectFrom('vault_credentials')
      .selectAll()
      .where('vault_id', '=', vaultId)
      .where('archived_at', 'is', null)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(credentialFromRow);
  }

  async putCredential(c: VaultCredentialRecord): Promise<void> {
    await this.db
      .updateTable('vault_credentials')
      .set(credentialToRow(c))
      .where('id', '=', c.id)
      .where('vault_id', '=', c.vault_id)
      .execute();
  }

  async archiveCredential(vaultId: string, id: string, now: string): Promise<VaultCredentialRecord | undefined> {
    await this.db
      .updateTable('vault_credentials')
      .set({ ...PURGED, archived_at: now, updated_at: now })
      .where('id', '=', id)
      .where('vault_id', '=', vaultId)
      .where('archived_at', 'is', null)
      .execute();
    return this.getCredential(vaultId, id);
  }

  async deleteCredential(vaultId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('vault_credentials')
      .where('id', '=', id)
      .where('vault_id', '=', vaultId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

/** Archiving purges the sealed secret: an archived credential keeps only its public fields. */
const PURGED = { secret_key_id: null, secret_nonce: null, secret_ciphertext: null, secret_tag: null };

/** A unique-constraint violation on SQLite (better-sqlite3) or PostgreSQL (pg). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

function vaultToRow(v: VaultRecord): Insertable<VaultsTable> {
  return { ...v, metadata: JSON.stringify(v.metadata) };
}

function vaultFromRow(r: Selectable<VaultsTable>): VaultRecord {
  return { ...r, metadata: parse<Record<string, string>>(r.metadata) };
}

function credentialToRow(c: VaultCredentialRecord): Selectable<VaultCredentialsTable> {
  return {
    id: c.id,
    vault_id: c.vault_id,
    display_name: c.display_name,
    metadata: JSON.stringify(c.metadata),
    auth: JSON.stringify(c.auth),
    match_key: c.match_key,
    secret_key_id: c.secret?.key_id ?? null,
    secret_nonce: c.secret?.nonce ?? null,
    secret_ciphertext: c.secret?.ciphertext ?? null,
    secret_tag: c.secret?.tag ?? null,
    created_at: c.created_at,
    updated_at: c.updated_at,
    archived_at: c.archived_at,
  };
}

function credentialFromRow(r: Selectable<VaultCredentialsTable>): VaultCredentialRecord {
  const sealed =
    r.secret_key_id !== null && r.secret_nonce !== null && r.secret_ciphertext !== null && r.secret_tag !== null;
  return {
    id: r.id,
    vault_id: r.vault_id,
    display_name: r.display_name,
    metadata: parse<Record<string, string>>(r.metadata),
    auth: parse<VaultCredentialRecord['auth']>(r.auth),
    match_key: r.match_key,
    secret: sealed
      ? { key_id: r.secret_key_id!, nonce: r.secret_nonce!, ciphertext: r.secret_ciphertext!, tag: r.secret_tag! }
      : null,
    created_at: r.created_at,
    updated_at: r.updated_at,
    archived_at: r.archived_at,
  };
}
