import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/**
 * Opens the store the config asks for: PostgreSQL when `databaseUrl` is set, else a SQLite file in WAL mode at
 * `<dataDir>/berth.db`. Runs migrations before returning.
 */
export async function openStore(opts: { databaseUrl?: string | undefined; dataDir: string }): Promise<Store> {
  const store = opts.databaseUrl ? openPostgres(opts.databaseUrl) : openSqlite(join(opts.dataDir, 'berth.db'));
  await store.migrate();
  return store;
}

/** A SQLite store at `file` (`:memory:` works too). */
export function openSqlite(file: string): Store {
  if (file !== ':memory:') {
    mkdirSync(join(file, '..'), { recursive: true });
    // Owner-only before SQLite opens it; SQLite gives its -wal and -shm files the database file's mode.
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
  }
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new KyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite');
}

/** A PostgreSQL store over a connection pool. */
export function openPostgres(url: string): Store {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  return new KyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
}
