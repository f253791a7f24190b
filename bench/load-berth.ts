import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig, startBerth, type BerthApp, type ConfigKey } from '@berth/server';

/**
 * A berthd for the load benchmarks: in-process, SQLite, bwrap, the scripted model, default sandbox limits.
 * `BERTH_TEST_UID_BASE` shifts its sandbox uids as it does for the tests (two checkouts on one host).
 */
export async function startBenchBerth(
  overrides: Partial<Record<ConfigKey, unknown>> = {},
): Promise<{ app: BerthApp; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bl-'));
  const base = Number(process.env.BERTH_TEST_UID_BASE ?? 0);
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      adminKey: 'bench-admin-key-0123456789',
      anthropicApiKey: 'bench-upstream-key',
      logLevel: 'warn',
      modelMaxRetries: 0,
      // A bench leaves nothing behind: closing destroys its sandboxes.
      stopSandboxesOnExit: true,
      uidRangeStart: 200_000 + (Number.isInteger(base) && base >= 0 ? base : 0),
      uidRangeCount: 1000,
      ...overrides,
    },
  );
  const app = await startBerth(config, { logger: createLogger('warn', process.stderr) });
  return {
    app,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
