import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runStoreConformance } from './conformance.js';
import { openPostgres, openSqlite } from './open.js';

runStoreConformance('sqlite', {
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
    const store = openSqlite(join(dir, 'berth.db'));
    await store.migrate();
    return {
      store,
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

// CI (.ci/run → scripts/test.sh) starts a real PostgreSQL and sets BERTH_TEST_DATABASE_URL.
const pgUrl = process.env.BERTH_TEST_DATABASE_URL;
runStoreConformance(
  'postgres',
  {
    async create() {
      const dbName = `berth_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
      await admin.end();
      const url = new URL(pgUrl!);
      url.pathname = `/${dbName}`;
      const store = openPostgres(url.toString());
      await store.migrate();
      return {
        store,
        async cleanup() {
          await store.close();
          const c = new pg.Client({ connectionString: pgUrl });
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS ${dbName}`);
          await c.end();
        },
      };
    },
  },
  pgUrl ? false : 'BERTH_TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL and sets it)',
);
