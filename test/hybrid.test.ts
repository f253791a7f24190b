import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { cgroupDirsFor, mountsContaining, processesOfUid, waitFor } from './procs.js';

type Wire = {
  id: string;
  status: string;
  berth: { state: string; lifecycle: Record<string, unknown>; sandbox: { id: string | null; state: string } };
};
type Body = { tools?: unknown[]; messages?: unknown[] };

const bash = (command: string) => ({
  content: [{ type: 'tool_use', name: 'Bash', input: { command, description: 'step' } }],
});

/**
 * The hybrid pattern end to end: a session hibernates (files and transcript to the blob store, sandbox destroyed,
 * nothing left running), and the next message resumes it transparently in a new sandbox with the same files and
 * the whole conversation (the SDK resumes from the restored transcript: the model's request carries turn one).
 * Also the ephemeral pattern: the session ends with its task and only the kept artifacts remain, read-only.
 */
describe.skipIf(e2eSkipReason() !== false)('lifecycle patterns: hybrid and ephemeral', () => {
  let t: TestBerth;
  /** Without a default disk quota: its hybrid sessions hibernate as tars instead of disk images. */
  let tNoDisk: TestBerth;
  let agentId: string;
  let agentNoDisk: string;

  const scenarios = [
    {
      // The scripted model follows the first message's scenario through the whole conversation, counting the
      // model turns in the request's history: turns 3 and 4 are only reached if turn one's history arrived.
      name: 'hy',
      turns: [
        bash(
          'mkdir -p /workspace/d && echo HYBRID-FILE-7781 > /workspace/keep.txt && ' +
            'head -c 3000000 /dev/urandom > /workspace/d/blob.bin && cd /workspace && sha256sum d/blob.bin > sum.txt && ' +
            '(sleep 600 &) ; echo written',
        ),
        { content: [{ type: 'text', text: 'Saved.' }] },
        bash('cat /workspace/keep.txt && cd /workspace && sha256sum -c sum.txt'),
        { content: [{ type: 'text', text: 'Read it back.' }] },
      ],
    },
    {
      name: 'eph-task',
      turns: [
        bash(
          'mkdir -p /workspace/out && echo REPORT-5512 > /workspace/out/report.md && echo scratch > /workspace/scratch.txt',
        ),
        { content: [{ type: 'text', text: 'Report written.' }] },
      ],
    },
  ];
  beforeAll(async () => {
    t = await startTestBerth({ scenarios });
    agentId = (await agentAndEnv(t.client)).agentId;
    tNoDisk = await startTestBerth({ scenarios, config: { defaultDiskMib: 0 } });
    agentNoDisk = (await agentAndEnv(tNoDisk.client)).agentId;
  });
  afterAll(async () => {
    await t?.close();
    await tNoDisk?.close();
  });

  const post = (path: string, body?: object, b = t) =>
    fetch(`${b.app.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': b.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  const get = (path: string, b = t) => fetch(`${b.app.url}${path}`, { headers: { 'x-api-key': b.app.adminKey } });
  const retrieve = async (id: string, b = t) => (await b.client.beta.sessions.retrieve(id)) as unknown as Wire;
  const session = async (lifecycle: object, b = t): Promise<Wire> => {
    const env = await post('/v1/environments', { name: 'p', config: { type: 'cloud' }, berth: { lifecycle } }, b);
    const agent = b === t ? agentId : agentNoDisk;
    const r = await post('/v1/sessions', { agent, environment_id: ((await env.json()) as { id: string }).id }, b);
    expect(r.status).toBe(200);
    return (await r.json()) as Wire;
  };
  const toolResults = (events: Array<Record<string, unknown>>) =>
    JSON.stringify(events.filter((e) => e.type === 'agent.tool_result'));

  it.each([{ disk: true }, { disk: false }])(
    'hibernates after hibernate_after_s idle with nothing left running, and resumes with its files and history (workspace disk: $disk)',
    async ({ disk }) => {
      // With a disk quota the snapshot is the sandbox's disk image, handed over whole; without one, two tars.
      const b = disk ? t : tNoDisk;
      const s = await session({ pattern: 'hybrid', hibernate_after_s: 2 }, b);
      expect(s.berth.lifecycle).toMatchObject({ pattern: 'hybrid', hibernate_after_s: 2 });
      const first = await collectTurn(b.client, s.id, () => say(b.client, s.id, '[scenario:hy] FIRST-TURN-3301'));
      expect(toolResults(first)).toContain('written');
      const before = await retrieve(s.id, b);
      const sandboxId = before.berth.sandbox.id!;
      const info = (await b.app.driver.inspect(sandboxId))!;
      expect(processesOfUid(info.hostUid).length).toBeGreaterThan(0);

      expect(await waitFor(async () => (await retrieve(s.id, b)).berth.state === 'hibernated', 20_000)).toBe(true);
      const hibernated = await retrieve(s.id, b);
      expect(hibernated.status).toBe('idle');
      expect(hibernated.berth.sandbox).toEqual({ id: null, state: 'hibernated' });
      // Zero processes (the agent's background sleep included), no cgroup, no mount, no sandbox record.
      expect(processesOfUid(info.hostUid)).toEqual([]);
      expect(cgroupDirsFor(info.cgroup ?? sandboxId)).toEqual([]);
      expect(mountsContaining(sandboxId)).toEqual([]);
      expect(await b.app.driver.inspect(sandboxId)).toBeUndefined();
      // The files route says how to get the workspace back.
      const snapshot = join(b.dataDir, 'blobs', 'snapshots', s.id);
      expect(existsSync(join(snapshot, 'disk.img'))).toBe(disk);
      expect(existsSync(join(snapshot, 'home.tar'))).toBe(!disk);
      const files = await get(`/v1/berth/sessions/${s.id}/files`, b);
      expect(files.status).toBe(409);
      expect(((await files.json()) as { error: { message: string } }).error.message).toMatch(/hibernated: resume it/);

      // The next message resumes it transparently: same files, whole conversation.
      const second = await collectTurn(b.client, s.id, () => say(b.client, s.id, 'SECOND-TURN-3302'));
      expect(second.filter((e) => e.type === 'session.error')).toEqual([]);
      expect(
        second.map((e) => e.type),
        JSON.stringify(second),
      ).toContain('agent.tool_result');
      expect(toolResults(second)).toContain('HYBRID-FILE-7781');
      expect(toolResults(second)).toContain('d/blob.bin: OK');
      const resumed = await retrieve(s.id, b);
      expect(resumed.berth.sandbox.id).not.toBe(sandboxId);
      const req = b.app
        .scriptedModel!.requests.map((r) => r.body as Body)
        .filter((b) => Array.isArray(b.tools) && JSON.stringify(b.messages).includes('SECOND-TURN-3302'));
      expect(req.length).toBeGreaterThan(0);
      // The SDK resumed from the restored transcript: turn one is in the model's context.
      expect(JSON.stringify(req[0]!.messages)).toContain('FIRST-TURN-3301');
      expect(JSON.stringify(req[0]!.messages)).toContain('written');
      // Event ids stay unique across the two sandboxes (the new runner numbers after the old one).
      const list = await b.client.beta.sessions.events.list(s.id, { limit: 1000 });
      const ids = list.data.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual([...first, ...second].filter((e) => ids.includes(e.id)).map((e) => e.id));
      // The disk image went to the new sandbox: the blob store keeps nothing of it while the session runs.
      if (disk) expect(existsSync(join(snapshot, 'disk.img'))).toBe(false);
      await b.client.beta.sessions.delete(s.id);
    },
    60_000,
  );

  it('a disk another sandbox keeps live is not handed over: the hibernation saves tars, and the files come back', async () => {
    // A data dir sandbox uids cannot traverse (below a 0700 directory): this berthd stages its sandboxes, and the
    // staging namespace of a sandbox started after A's disk was mounted holds A's filesystem (ADR 0021).
    const parent = mkdtempSync(join(tmpdir(), 'bs-'));
    const staged = await startTestBerth({ scenarios, config: { dataDir: join(parent, 'd') } });
    try {
      const agent = (await agentAndEnv(staged.client)).agentId;
      const start = async () => {
        const env = await post('/v1/environments', { name: 'p', config: { type: 'cloud' } }, staged);
        const r = await post(
          '/v1/sessions',
          { agent, environment_id: ((await env.json()) as { id: string }).id },
          staged,
        );
        return (await r.json()) as Wire;
      };
      const a = await start();
      await collectTurn(staged.client, a.id, () => say(staged.client, a.id, '[scenario:hy] go'));
      const b = await start();
      expect(await waitFor(async () => (await retrieve(b.id, staged)).berth.state === 'ready', 30_000)).toBe(true);
      const h = await post(`/v1/berth/sessions/${a.id}/hibernate`, {}, staged);
      expect(h.status).toBe(200);
      expect(((await h.json()) as Wire).berth.state).toBe('hibernated');
      const snapshot = join(parent, 'd', 'blobs', 'snapshots', a.id);
      expect(existsSync(join(snapshot, 'home.tar'))).toBe(true);
      expect(existsSync(join(snapshot, 'disk.img'))).toBe(false);
      const again = await collectTurn(staged.client, a.id, () => say(staged.client, a.id, 'AFTER-FALLBACK'));
      expect(toolResults(again)).toContain('HYBRID-FILE-7781');
      expect(toolResults(again)).toContain('d/blob.bin: OK');
    } finally {
      await staged.close();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 90_000);

  it('explicit hibernate and resume routes; hibernating a busy or ended session is refused', async () => {
    const s = await session({ pattern: 'persistent' });
    await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:hy] go'));
    const h = await post(`/v1/berth/sessions/${s.id}/hibernate`);
    expect(h.status).toBe(200);
    expect(((await h.json()) as Wire).berth.state).toBe('hibernated');
    expect((await post(`/v1/berth/sessions/${s.id}/hibernate`)).status).toBe(200); // idempotent
    const r = await post(`/v1/berth/sessions/${s.id}/resume`);
    expect(r.status).toBe(200);
    expect(['resuming', 'ready']).toContain(((await r.json()) as Wire).berth.state);
    expect(await waitFor(async () => (await retrieve(s.id)).berth.state === 'ready', 30_000)).toBe(true);
    const ls = await get(`/v1/berth/sessions/${s.id}/files?path=d`);
    expect(ls.status).toBe(200);
    expect(JSON.stringify(await ls.json())).toContain('blob.bin');
    await t.client.beta.sessions.archive(s.id);
    const refused = await post(`/v1/berth/sessions/${s.id}/hibernate`);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/no running sandbox/);
    expect((await post('/v1/berth/sessions/sesn_nope/hibernate')).status).toBe(404);
    await t.client.beta.sessions.delete(s.id);
  });

  it('ephemeral: the session ends with its task, its sandbox is destroyed, and the kept paths stay readable', async () => {
    const s = await session({ pattern: 'ephemeral', keep: ['out'] });
    const sandboxId = s.berth.sandbox.id!;
    await waitFor(async () => (await retrieve(s.id)).berth.state === 'ready', 30_000);
    const info = (await t.app.driver.inspect(sandboxId))!;
    const events = await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:eph-task] write the report'));
    // The turn ends (idle, end_turn), then the session: the same stream sees it terminate.
    expect(events.map((e) => e.type)).toContain('session.status_idle');
    expect(await waitFor(async () => (await retrieve(s.id)).status === 'terminated', 15_000)).toBe(true);
    const after = await retrieve(s.id);
    expect(after.berth.state).toBe('stopped');
    expect(await waitFor(async () => (await t.app.driver.inspect(sandboxId)) === undefined, 10_000)).toBe(true);
    expect(processesOfUid(info.hostUid)).toEqual([]);
    expect(mountsContaining(sandboxId)).toEqual([]);
    // The kept artifact is served; what was not kept is gone; nothing can be written.
    const report = await get(`/v1/berth/sessions/${s.id}/files/content?path=out/report.md`);
    expect(report.status).toBe(200);
    expect(await report.text()).toBe('REPORT-5512\n');
    expect((await get(`/v1/berth/sessions/${s.id}/files/content?path=scratch.txt`)).status).toBe(404);
    const tar = await get(`/v1/berth/sessions/${s.id}/files/archive?path=out`);
    expect(tar.status).toBe(200);
    expect(Buffer.from(await tar.arrayBuffer()).includes(Buffer.from('REPORT-5512'))).toBe(true);
    const put = await fetch(`${t.app.url}/v1/berth/sessions/${s.id}/files/content?path=x.txt`, {
      method: 'PUT',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(put.status).toBe(409);
    // A message to an ended ephemeral session is refused.
    await expect(say(t.client, s.id, 'more')).rejects.toThrow(/terminated/);
    await t.client.beta.sessions.delete(s.id);
    expect((await get(`/v1/berth/sessions/${s.id}/files/content?path=out/report.md`)).status).toBe(404);
  });
});
