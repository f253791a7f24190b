import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * The schema, as ordered migrations. Both dialects run the same migrations; the few dialect differences (the
 * auto-increment column) are handled inline. Never edit a shipped migration: add a new one.
 */
function buildMigrations(dialect: SqlDialect): Record<string, Migration> {
  const isPg = dialect === 'postgres';
  return {
    '0001_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('agents')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema
          .createTable('agent_versions')
          .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id').onDelete('cascade'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('agent_versions_pk', ['agent_id', 'version'])
          .execute();
        await db.schema
          .createTable('environments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('config', 'text', (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('scope', 'text')
          .addColumn('berth', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('agent_version', 'integer', (c) => c.notNull())
          .addColumn('agent', 'text', (c) => c.notNull())
          .addColumn('title', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('resources', 'text', (c) => c.notNull())
          .addColumn('vault_ids', 'text', (c) => c.notNull())
          .addColumn('budget', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('berth', 'text', (c) => c.notNull())
          .addColumn('stats', 'text', (c) => c.notNull())
          .addColumn('sandbox_id', 'text')
          .addColumn('sandbox_state', 'text', (c) => c.notNull())
          .addColumn('gateway_token_hash', 'text', (c) => c.notNull())
          .addColumn('sdk_session_id', 'text', (c) => c.notNull())
          .addColumn('event_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('runner_acked_seq', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema.createIndex('sessions_created').on('sessions').columns(['created_at', 'id']).execute();
        await db.schema.createIndex('sessions_gateway_token').on('sessions').column('gateway_token_hash').execute();
        await db.schema
          .createTable('events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('processed_at', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addUniqueConstraint('events_session_seq', ['session_id', 'seq'])
          .execute();
        await db.schema
          .createTable('model_requests')
          .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text')
          .addColumn('model', 'text')
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('input_tokens', 'integer', (c) => c.notNull())
          .addColumn('output_tokens', 'integer', (c) => c.notNull())
          .addColumn('cache_read_input_tokens', 'integer', (c) => c.notNull())
          .addColumn('cache_creation_input_tokens', 'integer', (c) => c.notNull())
          .addColumn('latency_ms', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('model_requests_session').on('model_requests').column('session_id').execute();
        await db.schema
          .createIndex('model_requests_message')
          .on('model_requests')
          .columns(['session_id', 'message_id'])
          .unique()
          .execute();
      },
    },
    '0002_vaults': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('vaults')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema.createIndex('vaults_created').on('vaults').columns(['created_at', 'id']).execute();
        await db.schema
          .createTable('vault_credentials')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('vault_id', 'text', (c) => c.notNull().references('vaults.id').onDelete('cascade'))
          .addColumn('display_name', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('auth', 'text', (c) => c.notNull())
          .addColumn('match_key', 'text', (c) => c.notNull())
          // The sealed secret (AES-256-GCM, base64); all four are null once the credential is archived.
          .addColumn('secret_key_id', 'text')
          .addColumn('secret_nonce', 'text')
          .addColumn('secret_ciphertext', 'text')
          .addColumn('secret_tag', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema
          .createIndex('vault_credentials_vault')
          .on('vault_credentials')
          .columns(['vault_id', 'created_at', 'id'])
          .execute();
        // One active credential per MCP server URL (or env var name) per vault, enforced by the database too.
        await db.schema
          .createIndex('vault_credentials_active_match')
          .on('vault_credentials')
          .columns(['vault_id', 'match_key'])
          .unique()
          .where(sql.ref('archived_at'), 'is', null)
          .execute();
      },
    },
    '0003_egress_audit': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('egress_audit')
          .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('port', 'integer', (c) => c.notNull())
          .addColumn('decision', 'text', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('address', 'text')
          .addColumn('status', 'integer')
          .addColumn('bytes_up', 'bigint', (c) => c.notNull())
          .addColumn('bytes_down', 'bigint', (c) => c.notNull())
          .addColumn('duration_ms', 'integer')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('egress_audit_session').on('egress_audit').columns(['session_id', 'ord']).execute();
      },
    },
    '0004_files': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('files')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('filename', 'text', (c) => c.notNull())
          .addColumn('mime_type', 'text', (c) => c.notNull())
          .addColumn('size_bytes', 'bigint', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('downloadable', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('files_created').on('files').columns(['created_at', 'id']).execute();
      },
    },
    '0005_tenants': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('tenants')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('archived_at', 'text')
          .execute();
        await db.schema.createIndex('tenants_created').on('tenants').columns(['created_at', 'id']).execute();
        // The built-in tenant: every row that existed before tenants belongs to it, and the bootstrap admin key acts
        // on it unless a request names another tenant.
        const now = new Date().toISOString();
        await sql`insert into tenants (id, name, metadata, created_at, updated_at, archived_at)
          values ('default', 'default', '{}', ${now}, ${now}, null)`.execute(db);
        for (const table of ['agents', 'environments', 'sessions', 'vaults', 'files']) {
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
          .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
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
        await db.schema
          .createIndex('audit_log_tenant')
          .on('audit_log')
          .columns(['tenant_id', 'created_at', 'ord'])
          .execute();
      },
    },
  };
}

export type SqlDialect = 'sqlite' | 'postgres';

/** Supplies the migrations above to Kysely's Migrator. */
export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: SqlDialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return buildMigrations(this.dialect);
  }
}
