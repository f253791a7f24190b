import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { webhooksUp } from './migrations-webhooks.js';
import { tenantsUp } from './migrations-tenants.js';

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
    '0005_webhooks': { up: (db: Kysely<unknown>) => webhooksUp(db, isPg) },
    '0006_ledger': {
      async up(db: Kysely<unknown>) {
        // The model ledger gains the dimensions usage is grouped by, copied from the session (rows outlive it).
        await db.schema
          .alterTable('model_requests')
          .addColumn('agent_id', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema
          .alterTable('model_requests')
          .addColumn('environment_id', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema
          .alterTable('model_requests')
          .addColumn('tenant_id', 'text', (c) => c.notNull().defaultTo('default'))
          .execute();
        await sql`UPDATE model_requests SET
            agent_id = COALESCE((SELECT s.agent_id FROM sessions s WHERE s.id = model_requests.session_id), ''),
            environment_id = COALESCE((SELECT s.environment_id FROM sessions s WHERE s.id = model_requests.session_id), '')`.execute(
          db,
        );
        // Message ids are unique across the ledger, not per session: keep the first row of any repeated id.
        await sql`DELETE FROM model_requests WHERE message_id IS NOT NULL AND ord NOT IN
            (SELECT MIN(ord) FROM model_requests WHERE message_id IS NOT NULL GROUP BY message_id)`.execute(db);
        await db.schema.dropIndex('model_requests_message').execute();
        await db.schema
          .createIndex('model_requests_message_id')
          .on('model_requests')
          .column('message_id')
          .unique()
          .execute();
        await db.schema.createIndex('model_requests_created').on('model_requests').column('created_at').execute();
        await db.schema
          .createTable('sandbox_usage')
          .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('driver', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('ended_at', 'text', (c) => c.notNull())
          .addColumn('seconds', 'double precision', (c) => c.notNull())
          .addColumn('active_seconds', 'double precision', (c) => c.notNull())
          .addColumn('memory_gib_seconds', 'double precision', (c) => c.notNull())
          .addColumn('vcpus', 'double precision', (c) => c.notNull())
          .addColumn('vcpu_seconds', 'double precision', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sandbox_usage_session').on('sandbox_usage').column('session_id').execute();
        await db.schema.createIndex('sandbox_usage_ended').on('sandbox_usage').column('ended_at').execute();
      },
    },
    '0007_triggers': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('triggers')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          // No foreign key: a trigger outlives its deleted session (its next fire fails and disables it).
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('cron', 'text')
          .addColumn('timezone', 'text')
          .addColumn('secret_key_id', 'text')
          .addColumn('secret_nonce', 'text')
          .addColumn('secret_ciphertext', 'text')
          .addColumn('secret_tag', 'text')
          .addColumn('next_run_at', 'text')
          .addColumn('last_run_at', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('triggers_created').on('triggers').columns(['created_at', 'id']).execute();
        await db.schema.createIndex('triggers_next_run').on('triggers').columns(['enabled', 'next_run_at']).execute();
        await db.schema
          .createTable('trigger_runs')
          .addColumn('ord', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('trigger_id', 'text', (c) => c.notNull().references('triggers.id').onDelete('cascade'))
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('scheduled_for', 'text')
          .addColumn('fired_at', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('event_id', 'text')
          .addColumn('delivery_id', 'text')
          .addUniqueConstraint('trigger_runs_delivery', ['trigger_id', 'delivery_id'])
          .execute();
        await db.schema.createIndex('trigger_runs_trigger').on('trigger_runs').columns(['trigger_id', 'ord']).execute();
      },
    },
    '0008_tenants': { up: (db: Kysely<unknown>) => tenantsUp(db, isPg) },
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
