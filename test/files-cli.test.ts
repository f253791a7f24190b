import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth } from './cli-run.js';
import { agentAndEnv, e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';

describe.skipIf(e2eSkipReason() !== false)('berth files / berth sessions files', () => {
  let t: TestBerth;
  let conn: string[];
  let dir: string;
  beforeAll(async () => {
    t = await startTestBerth();
    conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
    dir = mkdtempSync(join(tmpdir(), 'berth-cli-files-'));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads, lists, shows, downloads and deletes a file', async () => {
    writeFileSync(join(dir, 'report.csv'), 'a,b\n1,2\n');
    const up = await berth(['files', 'upload', join(dir, 'report.csv'), ...conn]);
    expect(up.stderr).toBe('');
    const id = /^(file_\w+)/.exec(up.stdout)?.[1];
    expect(up.stdout).toContain('8 bytes  text/csv  report.csv');
    expect((await berth(['files', 'list', ...conn])).stdout).toContain(id);
    expect(JSON.parse((await berth(['files', 'get', id!, ...conn])).stdout)).toMatchObject({ filename: 'report.csv' });
    expect((await berth(['files', 'download', id!, ...conn])).stdout).toBe('a,b\n1,2\n');
    expect((await berth(['files', 'delete', id!, ...conn])).stdout).toContain(`deleted ${id}`);
    const gone = await berth(['files', 'get', id!, ...conn]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not_found_error \(404\)/);
    expect((await berth(['files', 'get', 'nope', ...conn])).stderr).toMatch(/file id/);
  });

  it('puts, lists, gets, archives and removes workspace files of a session', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    for (let i = 0; i < 200; i++) {
      const r = (await t.client.beta.sessions.retrieve(s.id)) as unknown as { berth: { sandbox: { state: string } } };
      if (r.berth.sandbox.state === 'ready') break;
      await new Promise((r2) => setTimeout(r2, 50));
    }
    writeFileSync(join(dir, 'in.txt'), 'workspace data\n');
    const put = await berth(['sessions', 'files', 'put', s.id, join(dir, 'in.txt'), 'docs/in.txt', ...conn]);
    expect(put.stdout).toContain('wrote docs/in.txt (15 bytes)');
    const ls = await berth(['sessions', 'files', 'ls', s.id, '-r', ...conn]);
    expect(ls.stdout).toMatch(/^d .* docs$/m);
    expect(ls.stdout).toMatch(/^- 0644 +15 {2}docs\/in\.txt$/m);
    expect((await berth(['sessions', 'files', 'get', s.id, 'docs/in.txt', ...conn])).stdout).toBe('workspace data\n');
    const out = join(dir, 'ws.tar');
    expect((await berth(['sessions', 'files', 'tar', s.id, 'docs', '-o', out, ...conn])).code).toBe(0);
    const names: string[] = [];
    await list({ file: out, onReadEntry: (e) => names.push(e.path) });
    expect(names).toEqual(['docs/', 'docs/in.txt']);
    expect(readFileSync(out).length % 512).toBe(0);
    const bad = await berth(['sessions', 'files', 'get', s.id, '../etc/passwd', ...conn]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid_request_error \(400\): Path refused/);
    expect((await berth(['sessions', 'files', 'rm', s.id, 'docs', '-r', ...conn])).stdout).toContain('removed docs');
    expect((await berth(['sessions', 'files', 'ls', s.id, ...conn])).stdout).toBe('');
    await t.client.beta.sessions.delete(s.id);
  });
});
