import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyChecker, resolveAdminKey } from './admin-key.js';

describe('bootstrap admin key', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-key-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('uses the configured key without writing a file', async () => {
    const d = dir();
    const printed: string[] = [];
    expect(await resolveAdminKey(d, 'configured-key-0123456789', (k) => printed.push(k))).toBe(
      'configured-key-0123456789',
    );
    expect(printed).toEqual([]);
    expect(() => statSync(join(d, 'admin.key'))).toThrow();
  });

  it('generates once, prints once, saves with mode 0600, and reuses it later', async () => {
    const d = dir();
    const printed: string[] = [];
    const key = await resolveAdminKey(d, undefined, (k) => printed.push(k));
    expect(key).toMatch(/^bsk_admin_/);
    expect(printed).toEqual([key]);
    expect(statSync(join(d, 'admin.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(d, 'admin.key'), 'utf8').trim()).toBe(key);
    expect(await resolveAdminKey(d, undefined, (k) => printed.push(k))).toBe(key);
    expect(printed).toHaveLength(1);
  });

  it('checks keys exactly', () => {
    const check = keyChecker('the-admin-key-0123');
    expect(check('the-admin-key-0123')).toBe(true);
    expect(check('the-admin-key-0124')).toBe(false);
    expect(check('')).toBe(false);
  });
});
