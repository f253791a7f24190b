import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentAndEnv,
  collectTurn,
  e2eSkipReason,
  say,
  startTestBerth,
  testUidBase,
  type TestBerth,
} from './harness.js';
import { cgroupDirsFor, mountsContaining, processesOfUid, waitFor } from './procs.js';

type Wire = {
  id: string;
  status: string;
  berth: { state: string; shared_sandbox_id?: string; sandbox: { id: string | null; state: string } };
};

const bash = (command: string) => ({
  content: [{ type: 'tool_use', name: 'Bash', input: { command, description: 'step' } }],
});

/** Member A writes its own file and a note in its outbox. */
const A_CMD =
  'echo uid=$(id -u) name=$(id -un) cfg=$CLAUDE_CONFIG_DIR; echo A-SECRET-4411 > /workspace/a.txt; ' +
  'echo HELLO-FROM-A > /shared/agent1/note.txt; echo A-DONE';

/** Member B tries to overwrite, delete and move A's note and to add to A's outbox, then writes its own. */
const B_CMD = [
  "echo uid=$(id -u) name=$(id -un) cfg=$CLAUDE_CONFIG_DIR outboxes=$(ls /shared | tr '\\n' ,)",
  '(echo evil > /shared/agent1/note.txt) 2>/dev/null && echo NOTE-OVERWRITTEN || echo OVERWRITE-REFUSED',
  'rm -f /shared/agent1/note.txt 2>/dev/null && echo NOTE-DELETED || echo DELETE-REFUSED',
  'mv /shared/agent1/note.txt /shared/agent1/x 2>/dev/null && echo NOTE-MOVED || echo MOVE-REFUSED',
  '(echo x > /shared/agent1/planted.txt) 2>/dev/null && echo NOTE-PLANTED || echo PLANT-REFUSED',
  'ln -s /workspace/b.txt /shared/trap 2>/dev/null && echo TRAP-SET || echo TRAP-REFUSED',
  'ls /members 2>/dev/null && echo WORKSPACES-VISIBLE || echo WORKSPACES-HIDDEN',
  'echo read=$(cat /shared/agent1/note.txt)',
  'echo HELLO-FROM-B > /shared/agent2/note.txt && echo B-SHARED-OK',
  'echo b > /workspace/b.txt && echo B-OWN-OK',
].join('; ');

/**
 * The shared pattern end to end, with real bwrap, the real Claude CLI and the scripted model: sessions of one
 * environment share one sandbox (one group cgroup, one /shared directory), each with its own uid, workspace and
 * CLAUDE_CONFIG_DIR; one agent's Bash tries to overwrite, delete and move another's files and fails, while its own
 * writes succeed. The shared sandbox survives a berthd restart (re-adopted, and new sessions still join it), and
 * goes with its last member, leaving no process, mount or cgroup.
 */
describe.skipIf(e2eSkipReason() !== false)('lifecycle pattern: shared', () => {
  let t: TestBerth;
  let agentId: string;
  /** The first berthd's data dir, which the restarted one takes over (its own temp dir is removed by close()). */
  let firstDir: string | undefined;
  // Its own uid range, so the restarted berthd re-adopts sandboxes in the same range.
  const uidRangeStart = testUidBase() + 275_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16;
  const scenarios = [
    { name: 'sh-a', turns: [bash(A_CMD), { content: [{ type: 'text', text: 'A done.' }] }] },
    {
      name: 'sh-b',
      turns: [
        bash(B_CMD),
        // The Write tool too: a new file in A's outbox (no prior Read needed for a new file).
        {
          content: [
            { type: 'tool_use', name: 'Write', input: { file_path: '/shared/agent1/by-write.md', content: 'forged' } },
          ],
        },
        { content: [{ type: 'text', text: 'B done.' }] },
      ],
    },
    {
      name: 'sh-c',
      turns: [
        bash("echo uid=$(id -u) outboxes=$(ls /shared | tr '\\n' ,) $(cat /shared/agent2/note.txt)"),
        { content: [{ type: 'text', text: 'C done.' }] },
      ],
    },
  ];

  beforeAll(async () => {
    t = await startTestBerth({ scenarios, config: { uidRangeStart, stopSandboxesOnExit: false } });
    agentId = (await agentAndEnv(t.client)).agentId;
  });
  /** Sessions to delete if a test fails half-way (the first berthd leaves sandboxes running on close). */
  const created: string[] = [];
  afterAll(async () => {
    for (const id of created) await t?.client.beta.sessions.delete(id).catch(() => undefined);
    await t?.close();
    if (firstDir !== undefined) rmSync(firstDir, { recursive: true, force: true });
  });

  const post = (path: string, body?: object) =>
    fetch(`${t.app.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  const get = (path: string) => fetch(`${t.app.url}${path}`, { headers: { 'x-api-key': t.app.adminKey } });
  const retrieve = async (id: string) => (await t.client.beta.sessions.retrieve(id)) as unknown as Wire;
  const newSession = async (envId: string): Promise<Wire> => {
    const r = await post('/v1/sessions', { agent: agentId, environment_id: envId });
    expect(r.status, await r.clone().text()).toBe(200);
    const s = (await r.json()) as Wire;
    created.push(s.id);
    return s;
  };
  const toolResults = async (id: string, text: string) =>
    JSON.stringify(
      (await collectTurn(t.client, id, () => say(t.client, id, text))).filter((e) => e.type === 'agent.tool_result'),
    );

  it('co-locates sessions with their own uid, workspace and config dir; one cannot change another’s files', async () => {
    const envRes = await post('/v1/environments', {
      name: 'sim',
      config: { type: 'cloud' },
      berth: { lifecycle: { pattern: 'shared' }, resources: { pids: 1024 } },
    });
    const envId = ((await envRes.json()) as { id: string }).id;
    const a = await newSession(envId);
    const b = await newSession(envId);
    const group = a.berth.shared_sandbox_id!;
    expect(group).toMatch(/^shr_/);
    expect(b.berth.shared_sandbox_id).toBe(group);
    expect(b.berth.sandbox.id).not.toBe(a.berth.sandbox.id);

    const outA = await toolResults(a.id, '[scenario:sh-a] write your note');
    expect(outA).toContain('A-DONE');
    expect(outA).toContain('uid=1001 name=agent1 cfg=/home/agent/.claude');
    const outB = await toolResults(b.id, "[scenario:sh-b] try the other agent's files");
    // Co-located: B sees both outboxes and reads A's note; A's workspace is not visible to it.
    expect(outB).toContain('uid=1002 name=agent2 cfg=/home/agent/.claude outboxes=agent1,agent2,');
    expect(outB).toContain('read=HELLO-FROM-A');
    expect(outB).toContain('WORKSPACES-HIDDEN');
    // Refused: overwrite, delete and move of A's note, a file planted in A's outbox, a symlink trap in /shared.
    for (const m of ['OVERWRITE', 'DELETE', 'MOVE', 'PLANT', 'TRAP']) expect(outB).toContain(`${m}-REFUSED`);
    expect(outB).not.toMatch(/NOTE-OVERWRITTEN|NOTE-DELETED|NOTE-MOVED|NOTE-PLANTED|TRAP-SET/);
    // The Write tool's attempt failed too.
    expect(outB).toMatch(/EACCES: permission denied, open '\/shared\/agent1\/by-write\.md/);
    // Its own writes succeed.
    expect(outB).toContain('B-SHARED-OK');
    expect(outB).toContain('B-OWN-OK');

    // The host agrees: A's files are intact, each member has its own host uid, home and config dir, one cgroup.
    const ia = (await t.app.driver.inspect(a.berth.sandbox.id!))!;
    const ib = (await t.app.driver.inspect(b.berth.sandbox.id!))!;
    expect(ia.shared).toEqual({ group, uid: 1001 });
    expect(ib.shared).toEqual({ group, uid: 1002 });
    expect(ia.hostUid).not.toBe(ib.hostUid);
    const groupDir = join(t.dataDir, 'sandboxes', group);
    // The group's tree (on its disk, when the environment has a disk quota): members/<id> beside shared/<name>.
    const sharedDir = join(dirname(dirname(ia.workspaceDir)), 'shared');
    expect(sharedDir.startsWith(groupDir)).toBe(true);
    expect(readFileSync(join(sharedDir, 'agent1', 'note.txt'), 'utf8')).toBe('HELLO-FROM-A\n');
    expect(readdirSync(join(sharedDir, 'agent1'))).toEqual(['note.txt']);
    expect(statSync(join(sharedDir, 'agent1', 'note.txt')).uid).toBe(ia.hostUid);
    expect(statSync(join(sharedDir, 'agent2', 'note.txt')).uid).toBe(ib.hostUid);
    expect(statSync(ia.workspaceDir).mode & 0o777).toBe(0o700);
    const fileA = await get(`/v1/berth/sessions/${a.id}/files/content?path=a.txt`);
    expect(await fileA.text()).toBe('A-SECRET-4411\n');
    for (const i of [ia, ib]) {
      expect(statSync(i.homeDir).uid).toBe(i.hostUid);
      expect(statSync(i.homeDir).mode & 0o777).toBe(0o700);
      expect(existsSync(join(i.homeDir, '.claude'))).toBe(true);
    }
    expect(cgroupDirsFor(ia.cgroup!.split('/')[1]!).every((d) => d.includes(`/${group}/`))).toBe(true);
    expect(cgroupDirsFor(ib.cgroup!.split('/')[1]!).every((d) => d.includes(`/${group}/`))).toBe(true);

    // Another environment gets a shared sandbox of its own.
    const other = await post('/v1/environments', {
      name: 'other',
      config: { type: 'cloud' },
      berth: { lifecycle: { pattern: 'shared' }, resources: { pids: 1024 } },
    });
    const c = await newSession(((await other.json()) as { id: string }).id);
    expect(c.berth.shared_sandbox_id).not.toBe(group);
    await t.client.beta.sessions.delete(c.id);

    // A third member that ends while berthd is down (as if another replica ended it): the orphan sweep takes it.
    const e = await newSession(envId);
    expect(e.berth.shared_sandbox_id).toBe(group);
    expect(await waitFor(async () => (await retrieve(e.id)).berth.state === 'ready', 30_000)).toBe(true);
    const ie = (await t.app.driver.inspect(e.berth.sandbox.id!))!;
    expect(ie.shared).toEqual({ group, uid: 1003 });

    // A berthd restart: A and B are re-adopted, E is swept, and a new session of the environment still joins them.
    await t.app.close();
    firstDir = t.dataDir;
    const db = new Database(join(firstDir, 'berth.db'));
    db.prepare("UPDATE sessions SET status = 'terminated', sandbox_state = 'stopped' WHERE id = ?").run(e.id);
    db.close();
    t = await startTestBerth({ scenarios, config: { uidRangeStart, stopSandboxesOnExit: true, dataDir: t.dataDir } });
    expect(await waitFor(async () => (await retrieve(b.id)).berth.state === 'ready', 30_000)).toBe(true);
    expect(processesOfUid(ie.hostUid)).toEqual([]);
    expect(await t.app.driver.inspect(ie.id)).toBeUndefined();
    expect(existsSync(ie.homeDir)).toBe(false);
    expect(existsSync(join(sharedDir, 'agent3'))).toBe(false);
    const d = await newSession(envId);
    expect(d.berth.shared_sandbox_id).toBe(group);
    const outD = await toolResults(d.id, '[scenario:sh-c] look around');
    expect(outD).toContain('uid=1003 outboxes=agent1,agent2,agent3, HELLO-FROM-B');

    // The shared sandbox goes with its last member, not before.
    await t.client.beta.sessions.delete(a.id);
    expect(processesOfUid(ia.hostUid)).toEqual([]);
    expect(existsSync(join(sharedDir, 'agent1'))).toBe(false);
    expect(existsSync(join(sharedDir, 'agent2', 'note.txt'))).toBe(true);
    expect((await retrieve(b.id)).berth.state).toBe('ready');
    await t.client.beta.sessions.delete(b.id);
    expect(existsSync(groupDir)).toBe(true);
    await t.client.beta.sessions.delete(d.id);
    expect(await waitFor(() => Promise.resolve(!existsSync(groupDir)), 10_000)).toBe(true);
    expect(processesOfUid(ib.hostUid)).toEqual([]);
    expect(cgroupDirsFor(group)).toEqual([]);
    expect(mountsContaining(group)).toEqual([]);
  });

  it('refuses what makes no sense for a shared sandbox, saying what to do', async () => {
    const pooled = await post('/v1/environments', {
      name: 'x',
      config: { type: 'cloud' },
      berth: { lifecycle: { pattern: 'shared' }, warm_pool: { size: 1 } },
    });
    expect(pooled.status).toBe(400);
    const body = (await pooled.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/Set berth.warm_pool.size to 0/);

    const env = await post('/v1/environments', { name: 'y', config: { type: 'cloud' } });
    const envId = ((await env.json()) as { id: string }).id;
    const s = await post('/v1/sessions', {
      agent: agentId,
      environment_id: envId,
      berth: { lifecycle: { pattern: 'shared' } },
    });
    const id = ((await s.json()) as Wire).id;
    const h = await post(`/v1/berth/sessions/${id}/hibernate`);
    expect(h.status).toBe(400);
    expect(((await h.json()) as { error: { message: string } }).error.message).toMatch(/Use lifecycle 'hybrid'/);
    await t.client.beta.sessions.delete(id);
  });
});
