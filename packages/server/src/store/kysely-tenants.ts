import type { Kysely, Selectable, Updateable } from 'kysely';
import { keysetPage, mapPage, ordPage, rangeWhere } from './query.js';
import { parse } from './rows.js';
import type { ApiKeysTable, AuditLogTable, Database, TenantsTable } from './schema.js';
import type { ListOptions, Page } from './types.js';
import {
  DuplicateKeyPrefixError,
  type ApiKeyListOptions,
  type ApiKeyRecord,
  type AuditListOptions,
  type AuditRecord,
  type KeyScope,
  type TenantBudget,
  type TenantRecord,
} from './tenant-types.js';

/** Tenants, API keys and the audit log (same code for SQLite and PostgreSQL); KyselyStore delegates here. */
export class KyselyTenants {
  constructor(private readonly db: Kysely<Database>) {}

  async createTenant(t: TenantRecord): Promise<void> {
    await this.db
      .insertInto('tenants')
      .values({ ...t, metadata: JSON.stringify(t.metadata), budget: t.budget && JSON.stringify(t.budget) })
      .execute();
  }

  async updateTenant(
    id: string,
    patch: Partial<Pick<TenantRecord, 'name' | 'metadata' | 'budget'>> & { updated_at: string },
  ): Promise<TenantRecord | undefined> {
    const row: Updateable<TenantsTable> = { updated_at: patch.updated_at };
    if (patch.name !== undefined) row.name = patch.name;
    if (patch.metadata !== undefined) row.metadata = JSON.stringify(patch.metadata);
    if (patch.budget !== undefined) row.budget = patch.budget && JSON.stringify(patch.budget);
    await this.db.updateTable('tenants').set(row).where('id', '=', id).execute();
    return this.getTenant(id);
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const r = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? tenantFromRow(r) : undefined;
  }

  async listTenants(opts: ListOptions): Promise<Page<TenantRecord>> {
    let q = this.db.selectFrom('tenants').selectAll();
    if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return mapPage(await keysetPage(q, 'tenants', 'desc', opts), tenantFromRow);
  }

  async archiveTenant(id: string, now: string): Promise<TenantRecord | undefined> {
    await this.db
      .updateTable('tenants')
      .set({ archived_at: now, updated_at: now })
      .where('id', '=', id)
      .where('archived_at', 'is', null)
      .execute();
    return this.getTenant(id);
  }

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    try {
      await this.db.insertInto('api_keys').values(k).execute();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505') throw new DuplicateKeyPrefixError(k.prefix);
      throw err;
    }
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? keyFromRow(r) : undefined;
  }

  async findApiKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('prefix', '=', prefix).executeTakeFirst();
    return r ? keyFromRow(r) : undefined;
  }

  async listApiKeys(opts: ApiKeyListOptions): Promise<Page<ApiKeyRecord>> {
    let q = this.db.selectFrom('api_keys').selectAll();
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    if (!opts.includeInactive) {
      const now = opts.now ?? new Date().toISOString();
      q = q
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    }
    return mapPage(await keysetPage(q, 'api_keys', 'desc', opts), keyFromRow);
  }

  async updateApiKey(
    id: string,
    patch: Partial<Pick<ApiKeyRecord, 'expires_at' | 'revoked_at' | 'replaced_by'>>,
  ): Promise<ApiKeyRecord | undefined> {
    if (Object.keys(patch).length) await this.db.updateTable('api_keys').set(patch).where('id', '=', id).execute();
    return this.getApiKey(id);
  }

  async recordAudit(rec: AuditRecord): Promise<void> {
    await this.db.insertInto('audit_log').values(rec).execute();
  }

  /** Newest first, paged by insertion order. */
  async listAudit(opts: AuditListOptions): Promise<Page<AuditRecord>> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return ordPage(q, 'desc', opts, auditFromRow);
  }
}

function tenantFromRow(r: Selectable<TenantsTable>): TenantRecord {
  return {
    ...r,
    metadata: parse<Record<string, string>>(r.metadata),
    budget: r.budget === null ? null : parse<TenantBudget>(r.budget),
  };
}

function keyFromRow(r: Selectable<ApiKeysTable>): ApiKeyRecord {
  return { ...r, scope: r.scope as KeyScope };
}

function auditFromRow(r: Selectable<AuditLogTable>): AuditRecord {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    key_prefix: r.key_prefix,
    method: r.method,
    route: r.route,
    resource_id: r.resource_id,
    status: Number(r.status),
    request_id: r.request_id,
    created_at: r.created_at,
  };
}
