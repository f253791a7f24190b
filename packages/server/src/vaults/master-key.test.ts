import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { loadMasterKey } from './master-key.js';

describe('vault master key', () => {
  let dir: string;
  let logs: string;
  const logger = () =>
    createLogger(
      'info',
      new Writable({
        write(c: Buffer, _e, cb) {
          logs += c.toString();
          cb();
        },
      }),
    );
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-key-'));
    logs = '';
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates <dataDir>/vault.key with mode 0600 once, reuses it, warns, and never logs it', async () => {
    const a = await loadMasterKey({ dataDir: dir }, logger());
    const file = join(dir, 'vault.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = await loadMasterKey({ dataDir: dir }, logger());
    expect(b.id).toBe(a.id);
    expect(b.key.equals(a.key)).toBe(true);
    expect(logs).toMatch(/generated master key/);
    expect(logs).not.toContain(readFileSync(file, 'utf8').trim());
  });

  it('takes the key from the config, or from a key file, and rejects a key of the wrong length', async () => {
    const raw = randomBytes(32);
    const fromEnv = await loadMasterKey({ dataDir: dir, key: raw.toString('base64') }, logger());
    expect(fromEnv.key.equals(raw)).toBe(true);
    const file = join(dir, 'k');
    writeFileSync(file, raw.toString('base64') + '\n', { mode: 0o644 });
    const fromFile = await loadMasterKey({ dataDir: dir, keyFile: file }, logger());
    expect(fromFile.id).toBe(fromEnv.id);
    expect(logs).toMatch(/readable by group or others/);
    expect(logs).not.toContain(raw.toString('base64'));
    writeFileSync(file, randomBytes(16).toString('base64'));
    await expect(loadMasterKey({ dataDir: dir, keyFile: file }, logger())).rejects.toThrow(/exactly 32 bytes/);
    await expect(loadMasterKey({ dataDir: dir, keyFile: join(dir, 'none') }, logger())).rejects.toThrow(ConfigError);
    await expect(loadMasterKey({ dataDir: dir, key: raw.toString('base64'), keyFile: file }, logger())).rejects.toThrow(
      /only one/,
    );
  });

  it('validates the config fields without echoing the key', () => {
    const short = randomBytes(16).toString('base64');
    expect(() => loadConfig({ BERTH_VAULT_MASTER_KEY: short })).toThrow(/32 bytes/);
    try {
      loadConfig({ BERTH_VAULT_MASTER_KEY: short });
    } catch (e) {
      expect((e as Error).message).not.toContain(short);
    }
    const ok = randomBytes(32).toString('base64');
    expect(loadConfig({ BERTH_VAULT_MASTER_KEY: ok }).vaultMasterKey).toBe(ok);
    expect(() => loadConfig({ BERTH_VAULT_MASTER_KEY: ok, BERTH_VAULT_MASTER_KEY_FILE: '/k' })).toThrow(/not both/);
  });
});
