import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { waitFor } from './procs.js';

/**
 * A full disk (issue 5.5): berthd's data dir on a small tmpfs this test mounts; once it is full, a message is
 * refused with 503 `storage_unavailable` (retryable, nothing stored) instead of a 500 or a silent loss, and after
 * space is freed the same session works on with a complete history.
 */
describe.skipIf(e2eSkipReason() !== false)('a full disk', () => {
  const mnt = mkdtempSync(join(tmpdir(), 'bf-'));
  let t: TestBerth;
  const filler = join(mnt, 'filler');

  beforeAll(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0755', 'tmpfs', mnt]);
    t = await startTestBerth({
      config: { dataDir: join(mnt, 'data'), defaultDiskMib: 0 },
      scenarios: [{ name: 'full', turns: [{ content: [{ type: 'text', text: 'stored fine' }] }] }],
    });
  });
  afterAll(async () => {
    await t?.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  /** Writes zeros until the filesystem refuses (ENOSPC). */
  function fill(): void {
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
    // The last bytes too, so even a one-page SQLite write fails.
    const fd2 = openSync(join(mnt, 'filler2'), 'w');
    try {
      for (;;) writeSync(fd2, Buffer.alloc(512));
    } catch {
      // full
    } finally {
      closeSync(fd2);
    }
  }

  it('refuses with a retryable 503 while full, loses nothing, and works on once space is freed', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:full] before'));
    const before = (await t.client.beta.sessions.events.list(s.id, { limit: 100 })).data.length;

    fill();
    expect(statfsSync(mnt).bavail).toBe(0);
    const r = await fetch(`${t.app.url}/v1/sessions/${s.id}/events`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ type: 'user.message', content: [{ type: 'text', text: 'while full' }] }] }),
    });
    expect(r.status).toBe(503);
    expect(r.headers.get('x-should-retry')).toBe('true');
    expect(r.headers.get('retry-after')).toBe('5');
    const body = (await r.json()) as { error: { type: string; message: string; details: { error_code: string } } };
    expect(body.error.details.error_code).toBe('storage_unavailable');
    expect(body.error.message).toMatch(/nothing of this request was stored/);

    unlinkSync(filler);
    unlinkSync(join(mnt, 'filler2'));
    // Nothing of the refused message was stored, and the session goes on.
    const list = (await t.client.beta.sessions.events.list(s.id, { limit: 100 })).data;
    expect(list.length).toBe(before);
    expect(JSON.stringify(list)).not.toContain('while full');
    const after = await collectTurn(t.client, s.id, () => say(t.client, s.id, 'after'));
    expect(after.at(-1)!.type).toBe('session.status_idle');
    expect(await waitFor(async () => (await t.client.beta.sessions.retrieve(s.id)).status === 'idle', 10_000)).toBe(
      true,
    );
    await t.client.beta.sessions.delete(s.id);
  }, 180_000);
});
