import { sql, type Kysely } from 'kysely';

/**
 * Migration `0008_tenants` (registered in migrations.ts): tenants, API keys (hashes only) and the audit log, and an
 * owner column on every top-level resource. Rows that existed before belong to the built-in `default` tenant.
 * Children (events, credentials, deliveries, trigger runs, ledger rows) inherit their parent's owner; the ledger
 * tables already carry a `tenant_id` (0006_ledger).
 */
export async function tenantsUp(db: Kysely<unknown>, isPg: boolean): Promise<void> {
  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    // The monthly budget (JSON TenantBudget); null: none.
    .addColumn('budget', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('archived_at', 'text')
    .execute();
  await db.schema.createIndex('tenants_created').on('tenants').columns(['created_at', 'id']).execute();
  // The built-in tenant: every row that existed before tenants belongs to it, and the bootstrap admin key acts
  // on it unless a request names another tenant.
  const now = new Date().toISOString();
  await sql`insert into tenants (id, name, metadata, budget, created_at, updated_at, archived_at)
    values ('default', 'default', '{}', null, ${now}, ${now}, null)`.execute(db);
  for (const table of ['agents', 'environments', 'sessions', 'vaults', 'files', 'webhook_endpoints', 'triggers']) {
    await db.schema
      .alterTable(table)
      .addColumn('tenant_id', 'text', (c) => c.notNull().defaultTo('default'))
      .execute();
    await db.schema
      .createIndex(`${table}_tenant_created`)
      .on(table)
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
  }
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // null for admin keys, else the tenant the key acts on.
    .addColumn('tenant_id', 'text')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    // The visible part of the key (`bsk_live_XXXXXXXX`), unique: it is how a presented key is found.
    .addColumn('prefix', 'text', (c) => c.notNull().unique())
    // Hex SHA-256 of the whole key; the key itself is never stored.
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('replaced_by', 'text')
    .execute();
  await db.schema.createIndex('api_keys_created').on('api_keys').columns(['created_at', 'id']).execute();
  await db.schema
    .createTable('audit_log')
    .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) => (isPg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('tenant_id', 'text')
    .addColumn('key_prefix', 'text')
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'text')
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_created').on('audit_log').columns(['created_at', 'ord']).execute();
  await db.schema.createIndex('audit_log_tenant').on('audit_log').columns(['tenant_id', 'created_at', 'ord']).execute();
}
