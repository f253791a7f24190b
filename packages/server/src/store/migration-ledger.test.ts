import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { KyselyStore } from './kysely-store.js';
import { StaticMigrationProvider, type SqlDialect } from './migrations.js';

/**
 * `0006_ledger` over a database that already holds ledger rows (written by 0001–0004): the new columns are filled
 * from the sessions, and a message id recorded in two sessions keeps only its first row.
 */
async function upgrade(db: Kysely<unknown>, dialect: SqlDialect): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(dialect) });
  expect((await migrator.migrateTo('0004_files')).error).toBeUndefined();
  const session = (id: string, agent: string, env: string) => sql`
    INSERT INTO sessions (id, environment_id, agent_id, agent_version, agent, title, metadata, resources, vault_ids,
      budget, status, berth, stats, sandbox_id, sandbox_state, gateway_token_hash, sdk_session_id, created_at,
      updated_at, archived_at)
    VALUES (${id}, ${env}, ${agent}, 1, '{}', NULL, '{}', '[]', '[]', NULL, 'idle', '{}', '{}', NULL, 'stopped',
      ${id}, ${id}, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', NULL)`;
  const request = (id: string, sessionId: string, messageId: string, input: number) => sql`
    INSERT INTO model_requests (id, session_id, message_id, model, status, input_tokens, output_tokens,
      cache_read_input_tokens, cache_creation_input_tokens, latency_ms, created_at)
    VALUES (${id}, ${sessionId}, ${messageId}, 'claude-sonnet-4-5', 200, ${input}, 1, 0, 0, 5,
      '2026-01-01T00:00:01.000Z')`;
  await session('sesn_old1', 'agent_a', 'env_a').execute(db);
  await session('sesn_old2', 'agent_b', 'env_b').execute(db);
  await request('mreq_1', 'sesn_old1', 'msg_1', 10).execute(db);
  await request('mreq_2', 'sesn_old1', 'msg_2', 20).execute(db);
  // The old unique index was per session: the same message id could land in another session's ledger.
  await request('mreq_3', 'sesn_old2', 'msg_1', 40).execute(db);
  await request('mreq_4', 'sesn_old2', 'msg_4', 80).execute(db);
  const store = new KyselyStore(db as never, dialect);
  await store.migrate();
  const groups = await store.usageGroups({ groupBy: 'session', limit: 10 });
  expect(groups.data.map((g) => [g.key, g.tokens.input_tokens, g.tokens.requests])).toEqual([
    ['sesn_old1', 30, 2],
    ['sesn_old2', 80, 1],
  ]);
  const agents = await store.usageGroups({ groupBy: 'agent', limit: 10 });
  expect(agents.data.map((g) => g.key)).toEqual(['agent_a', 'agent_b']);
  const envs = await store.usageGroups({ groupBy: 'environment', limit: 10 });
  expect(envs.data.map((g) => g.key)).toEqual(['env_a', 'env_b']);
  const tenants = await store.usageGroups({ groupBy: 'tenant', limit: 10 });
  expect(tenants.data.map((g) => [g.key, g.tokens.requests])).toEqual([['default', 3]]);
  await store.close();
}

describe('migration 0006_ledger over existing rows', () => {
  it('sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-mig-'));
    try {
      await upgrade(
        new Kysely({ dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir, 'b.db')) }) }),
        'sqlite',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const pgUrl = process.env.BERTH_TEST_DATABASE_URL;
  it.skipIf(!pgUrl)('postgres (needs BERTH_TEST_DATABASE_URL, which scripts/test.sh sets)', async () => {
    const name = `berth_mig_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(pgUrl!);
      url.pathname = `/${name}`;
      await upgrade(
        new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString() }) }) }),
        'postgres',
      );
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    }
  });
});
