import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth } from './cli-run.js';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';

const run = promisify(execFile);

describe.skipIf(e2eSkipReason() !== false)('the berth CLI against a running berthd', () => {
  let t: TestBerth;
  let conn: string[];
  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [
        {
          name: 'cli-fail',
          turns: [{ error: { status: 400, type: 'invalid_request_error', message: 'scripted failure' } }],
        },
      ],
    });
    conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
  });
  afterAll(async () => t?.close());

  it('`run` prints the events live and exits 0 when the turn ends normally', async () => {
    const r = await berth(['run', '[scenario:write-and-run] say hello', ...conn]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tool {2}write/);
    expect(r.stdout).toContain('Hello from Berth!');
    expect(r.stdout).toContain('idle  (end_turn)');
    // Ephemeral: the session is gone afterwards.
    const sessionId = /session (sesn_\w+)/.exec(r.stdout)?.[1];
    expect(sessionId).toBeDefined();
    await expect(t.client.beta.sessions.retrieve(sessionId!)).rejects.toMatchObject({ status: 404 });
  });

  it('`run` exits 1 when the turn fails, saying why', async () => {
    const r = await berth(['run', '[scenario:cli-fail] go', ...conn]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ERROR');
    expect(r.stdout).toMatch(/run failed/);
  });

  it('`sessions` subcommands work and bad input is refused with a usage error', async () => {
    const keep = await berth(['run', '[scenario:write-and-run] keep me', '--keep', ...conn]);
    const id = /session (sesn_\w+)/.exec(keep.stdout)![1]!;
    const list = await berth(['sessions', 'list', ...conn]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    const events = await berth(['sessions', 'events', id, '--json', ...conn]);
    expect(
      events.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
    ).toContain('agent.tool_result');
    const missing = await berth(['sessions', 'show', 'sesn_01NOPE', ...conn]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not_found_error \(404\): No session/);
    const bad = await berth(['sessions', 'show', 'not-a-session', ...conn]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/expected a session id/);
    expect((await berth(['sessions', 'delete', id, ...conn])).code).toBe(0);
  });

  it('is linked as `berth` at the repository root (what `npx berth` runs), and `doctor` passes on this host', async () => {
    const bin = resolve(import.meta.dirname, '../node_modules/.bin/berth');
    const help = await run(bin, ['--help'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(help.stdout).toContain('Usage: berth');
    const doctor = await berth(['doctor', '--data-dir', t.dataDir]);
    expect(doctor.code).toBe(0);
    for (const check of [
      'node',
      'sandbox (bwrap, user namespaces, cgroups)',
      'disk quota (loop devices, e2fsprogs)',
      'claude CLI binary',
      'runner bundle',
      'data dir',
    ])
      expect(doctor.stdout).toContain(`ok    ${check}`);
    const broken = await berth(['doctor', '--data-dir', t.dataDir, '--bwrap-path', '/nonexistent/bwrap']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/FAIL {2}sandbox .*apt-get install bubblewrap/);
  });

  it('`serve` refuses invalid configuration with exit code 2 and names the flag', async () => {
    const r = await berth(['serve', '--port', 'not-a-port', '--data-dir', t.dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/port: .*--port or env BERTH_PORT/);
  });
});
