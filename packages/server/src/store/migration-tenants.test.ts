import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { StaticMigrationProvider } from './migrations.js';
import { openSqlite } from './open.js';
import { TenantStore } from './tenant-scope.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('0008_tenants gives rows that existed before it to the default tenant', async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-mig-'));
  const file = join(dir, 'berth.db');
  // A database as the previous release left it: migrated up to 0007 (before tenants), with an agent and a vault in it.
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
  const r = await new Migrator({ db, provider: new StaticMigrationProvider('sqlite') }).migrateTo('0007_triggers');
  expect(r.error).toBeUndefined();
  const now = new Date().toISOString();
  const raw = db as unknown as Kysely<Record<string, Record<string, unknown>>>;
  await raw.insertInto('agents').values({ id: 'agent_old', version: 1, created_at: now, updated_at: now }).execute();
  await raw
    .insertInto('agent_versions')
    .values({ agent_id: 'agent_old', version: 1, body: JSON.stringify({ name: 'old' }), created_at: now })
    .execute();
  await raw
    .insertInto('vaults')
    .values({ id: 'vlt_old', display_name: 'v', metadata: '{}', created_at: now, updated_at: now })
    .execute();
  await db.destroy();

  const store = openSqlite(file);
  try {
    await store.migrate();
    expect((await store.getAgent('agent_old'))?.tenant_id).toBe('default');
    expect((await store.getVault('vlt_old'))?.tenant_id).toBe('default');
    expect((await new TenantStore(store, 'default').getAgent('agent_old'))?.name).toBe('old');
    expect(await new TenantStore(store, 'tenant_x').getAgent('agent_old')).toBeUndefined();
  } finally {
    await store.close();
  }
});
