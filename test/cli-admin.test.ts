import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth } from './cli-run.js';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';

describe.skipIf(e2eSkipReason() !== false)('`berth admin`: tenants, keys, audit from the CLI', () => {
  let t: TestBerth;
  let conn: string[];
  beforeAll(async () => {
    t = await startTestBerth();
    conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
  });
  afterAll(async () => t?.close());

  it('creates a tenant and a key, lists by prefix only, rotates, audits; a tenant key cannot use admin commands', async () => {
    const created = await berth(['admin', 'tenants', 'create', 'acme', ...conn]);
    expect(created.code, created.stderr).toBe(0);
    const tenant = /^(tenant_\w+)\s+acme$/m.exec(created.stdout)![1]!;
    expect((await berth(['admin', 'tenants', 'list', ...conn])).stdout).toContain(tenant);
    const month = new Date().toISOString().slice(0, 7);
    const capped = await berth(['admin', 'tenants', 'budget', tenant, '5000', ...conn]);
    expect([capped.code, capped.stdout.trim()]).toEqual([0, `${tenant}  budget 5000 cents; spent 0 cents in ${month}`]);
    const got = JSON.parse((await berth(['admin', 'tenants', 'get', tenant, ...conn])).stdout) as { budget: unknown };
    expect(got.budget).toEqual({ type: 'monthly', max_list_cost: { amount: '5000', currency: 'USD' } });
    expect((await berth(['admin', 'tenants', 'budget', tenant, 'none', ...conn])).stdout).toContain('no budget');
    const bad = await berth(['admin', 'tenants', 'budget', tenant, '12.5', ...conn]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('whole number of cents');

    const key = await berth([
      'admin',
      'keys',
      'create',
      '--scope',
      'write',
      '--tenant',
      tenant,
      '--name',
      'ci',
      ...conn,
    ]);
    expect(key.code, key.stderr).toBe(0);
    const secret = /secret \(shown once, store it now\): (bsk_live_\w+)/.exec(key.stdout)![1]!;
    const keyId = /^(key_\w+)/m.exec(key.stdout)![1]!;
    const listed = await berth(['admin', 'keys', 'list', '--tenant', tenant, ...conn]);
    expect(listed.stdout).toContain(secret.slice(0, 17) + '…');
    expect(listed.stdout).not.toContain(secret);

    // The tenant's key works for its own API and is refused the admin commands.
    const own = ['--url', t.app.url, '--api-key', secret];
    expect((await berth(['sessions', 'list', ...own])).code).toBe(0);
    const refused = await berth(['admin', 'tenants', 'list', ...own]);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('permission_error (403)')]);

    const rotated = await berth(['admin', 'keys', 'rotate', keyId, ...conn]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/previous: key_\w+ .* revoked/);
    const old = await berth(['sessions', 'list', ...own]);
    expect([old.code, old.stderr]).toEqual([1, expect.stringContaining('authentication_error (401)')]);

    // An admin acts on a tenant with --as-tenant: the upload belongs to it, and the audit log says so.
    const file = resolve(t.dataDir, 'note.txt');
    writeFileSync(file, 'acme\n');
    const up = await berth(['files', 'upload', file, ...conn, '--as-tenant', tenant]);
    expect(up.code, up.stderr).toBe(0);
    const fileId = /^(file_\w+)/.exec(up.stdout)![1]!;
    expect((await berth(['files', 'list', ...conn, '--as-tenant', tenant])).stdout).toContain(fileId);
    expect((await berth(['files', 'list', ...conn])).stdout).not.toContain(fileId);
    const audit = await berth(['admin', 'audit', '--tenant', tenant, '--json', ...conn]);
    expect(audit.code, audit.stderr).toBe(0);
    const lines = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.method, l.route, l.resource_id, l.key_prefix])).toEqual([
      ['POST', '/v1/files', fileId, 'bootstrap-admin'],
    ]);
    const all = await berth(['admin', 'audit', '--json', ...conn]);
    const routes = all.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { route: string }).route);
    expect(routes).toEqual(
      expect.arrayContaining(['/v1/berth/admin/tenants', '/v1/berth/admin/keys', '/v1/berth/admin/keys/:id/rotate']),
    );
  });
});
