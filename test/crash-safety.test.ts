import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { e2eSkipReason, testUidBase, type Ev } from './harness.js';
import { freePort, startBerthdProcess } from './berthd-process.js';
import { cgroupDirsFor, mountsUnder, processesMatching, processesOfUid, waitFor } from './procs.js';

const ADMIN_KEY = 'bsk_test_admin_key_crash_0123456789';
const SESSIONS = 5;
/** A unique sleep the test can find on the host: the tool each turn is running when berthd is killed. */
const SLEEP = 'sleep 6.173';

type Wire = { id: string; status: string; berth: { sandbox: { id: string | null } } };

/**
 * Crash safety (issue 5.5, DESIGN rule 4), with berthd as a real separate process: it is killed with SIGKILL while
 * five sessions are mid-turn (each running a tool in its sandbox), and started again on the same data dir. The
 * sandboxes keep running while it is down, their runners reconnect and re-send what was not acknowledged, every
 * interrupted turn completes, and every history has each event exactly once, in the order clients saw before the
 * crash. A sandbox whose session ended while berthd was down is swept, and leaves nothing behind.
 */
describe.skipIf(e2eSkipReason() !== false)('kill -9 of berthd mid-turn', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bc-'));
  const scenarioDir = join(dataDir, 'scenarios');
  mkdirSync(scenarioDir);
  const children: ChildProcess[] = [];
  const uidStart = testUidBase() + 150_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16;

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function startBerthd(port: number, extra: string[] = []): Promise<ChildProcess> {
    // A model request the CLI makes while berthd is down fails; its retries carry it over the restart.
    const retries = ['--model-max-retries', '10'];
    const child = await startBerthdProcess({
      dataDir,
      port,
      scenarios: scenarioDir,
      adminKey: ADMIN_KEY,
      uidStart,
      extra: [...retries, ...extra],
    });
    children.push(child);
    return child;
  }

  function sandboxRecord(sandboxId: string): { hostUid: number; cgroup?: string } {
    return JSON.parse(readFileSync(join(dataDir, 'sandboxes', sandboxId, 'sandbox.json'), 'utf8')) as {
      hostUid: number;
      cgroup?: string;
    };
  }

  it('every sandbox survives, every interrupted turn completes, and no event is lost or duplicated', async () => {
    writeFileSync(
      join(scenarioDir, 'crash.json'),
      JSON.stringify({
        name: 'crash',
        turns: [
          { content: [{ type: 'tool_use', name: 'Bash', input: { command: `${SLEEP}; echo CRASH-DONE` } }] },
          { content: [{ type: 'text', text: 'Finished after the restart.' }] },
        ],
      }),
    );
    const port = await freePort();
    const first = await startBerthd(port);
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: ADMIN_KEY, maxRetries: 0 });
    const agent = await client.beta.agents.create({
      name: 'crash',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await client.beta.environments.create({ name: 'crash', config: { type: 'cloud' } });
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS + 1; i++)
      ids.push((await client.beta.sessions.create({ agent: agent.id, environment_id: env.id })).id);
    const swept = ids.pop()!;

    // Live streams, as clients would hold them; they break when berthd dies.
    const seen = new Map<string, Ev[]>(ids.map((id) => [id, []]));
    const streams = await Promise.all(ids.map((id) => client.beta.sessions.events.stream(id)));
    const reading = streams.map(async (stream, i) => {
      try {
        for await (const e of stream) seen.get(ids[i]!)!.push(e as unknown as Ev);
      } catch {
        // berthd was killed.
      }
    });
    for (const id of ids)
      await client.beta.sessions.events.send(id, {
        events: [{ type: 'user.message', content: [{ type: 'text', text: `[scenario:crash] ${id}` }] }],
      });
    // Mid-turn: every session's tool is running in its sandbox.
    expect(await waitFor(() => processesMatching(SLEEP).length >= SESSIONS, 90_000)).toBe(true);
    const sandboxes = new Map<string, string>();
    for (const id of [...ids, swept])
      sandboxes.set(id, ((await client.beta.sessions.retrieve(id)) as unknown as Wire).berth.sandbox.id!);

    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await Promise.all(reading);
    // berthd is gone; the agents are not.
    expect(processesMatching(SLEEP).length).toBeGreaterThanOrEqual(SESSIONS);
    // The sixth session ends while berthd is down (as if a replica ended it): its sandbox belongs to nothing now.
    const db = new Database(join(dataDir, 'berth.db'));
    db.prepare("UPDATE sessions SET status = 'terminated', sandbox_state = 'stopped' WHERE id = ?").run(swept);
    db.close();
    const sweptRecord = sandboxRecord(sandboxes.get(swept)!);
    // Stay down until every tool has finished: its result can then only reach the history through the runner's
    // re-send, and the agent's next model request through the CLI's retries.
    expect(await waitFor(() => processesMatching(SLEEP).length === 0, 30_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));

    const second = await startBerthd(port, ['--stop-sandboxes-on-exit', 'true']);
    // The swept sandbox is gone, with its processes, mounts and cgroups.
    expect(processesOfUid(sweptRecord.hostUid)).toEqual([]);
    expect(mountsUnder(join(dataDir, 'sandboxes', sandboxes.get(swept)!))).toEqual([]);
    expect(cgroupDirsFor(sweptRecord.cgroup ?? sandboxes.get(swept)!)).toEqual([]);

    for (const id of ids) {
      expect(
        await waitFor(async () => (await client.beta.sessions.retrieve(id)).status === 'idle', 120_000, 250),
        `session ${id} did not finish its turn`,
      ).toBe(true);
      const history: Ev[] = [];
      for await (const e of client.beta.sessions.events.list(id, { limit: 100 })) history.push(e as unknown as Ev);
      const hids = history.map((e) => e.id);
      expect(new Set(hids).size, `duplicated events in ${id}`).toBe(hids.length);
      // What a client saw live before the crash is the start of the history, in the same order.
      const before = seen.get(id)!.map((e) => e.id);
      expect(hids.slice(0, before.length)).toEqual(before);
      const types = history.map((e) => e.type);
      expect(types.filter((x) => x === 'agent.tool_use')).toHaveLength(1);
      expect(types.filter((x) => x === 'agent.tool_result')).toHaveLength(1);
      expect(JSON.stringify(history.find((e) => e.type === 'agent.tool_result'))).toContain('CRASH-DONE');
      expect(types.filter((x) => x === 'agent.message').length).toBeGreaterThanOrEqual(1);
      const last = history.at(-1)!;
      expect(last.type).toBe('session.status_idle');
      expect((last.stop_reason as { type: string }).type).toBe('end_turn');
      expect(types).not.toContain('session.error');
    }
    // A re-adopted session takes new turns.
    const again = ids[0]!;
    await client.beta.sessions.events.send(again, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'one more' }] }],
    });
    expect(
      await waitFor(async () => {
        const l = await client.beta.sessions.events.list(again, { limit: 100, order: 'desc' } as never);
        return l.data[0]?.type === 'session.status_idle' && l.data.some((e) => e.type === 'user.message');
      }, 60_000),
    ).toBe(true);

    // A graceful stop (told to remove its sandboxes) leaves nothing behind.
    const records = ids.map((id) => sandboxRecord(sandboxes.get(id)!));
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
    for (const r of records) expect(processesOfUid(r.hostUid)).toEqual([]);
    expect(mountsUnder(dataDir)).toEqual([]);
    for (const [i, id] of ids.entries()) expect(cgroupDirsFor(records[i]!.cgroup ?? sandboxes.get(id)!)).toEqual([]);
  }, 400_000);

  it('SIGTERM: a running turn finishes, hybrid hibernates, persistent keeps running and is re-adopted', async () => {
    writeFileSync(
      join(scenarioDir, 'drain.json'),
      JSON.stringify({
        name: 'drain',
        turns: [
          { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'sleep 3.271; echo DRAINED' } }] },
          { content: [{ type: 'text', text: 'Done before shutdown.' }] },
          { content: [{ type: 'text', text: 'Still here.' }] },
        ],
      }),
    );
    writeFileSync(
      join(scenarioDir, 'daemon.json'),
      JSON.stringify({
        name: 'daemon',
        turns: [
          { content: [{ type: 'tool_use', name: 'Bash', input: { command: '(sleep 900.417 &) ; echo started' } }] },
          { content: [{ type: 'text', text: 'Daemon up.' }] },
          { content: [{ type: 'text', text: 'Still here.' }] },
        ],
      }),
    );
    const port = await freePort();
    const first = await startBerthd(port, ['--shutdown-deadline-s', '60']);
    const client = new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: ADMIN_KEY, maxRetries: 0 });
    const agent = await client.beta.agents.create({
      name: 'drain',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = async (lifecycle: object) =>
      (
        (await (
          await fetch(`http://127.0.0.1:${port}/v1/environments`, {
            method: 'POST',
            headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'e', config: { type: 'cloud' }, berth: { lifecycle } }),
          })
        ).json()) as { id: string }
      ).id;
    const persistent = (
      await client.beta.sessions.create({ agent: agent.id, environment_id: await env({ pattern: 'persistent' }) })
    ).id;
    const hybrid = (
      await client.beta.sessions.create({
        agent: agent.id,
        environment_id: await env({ pattern: 'hybrid', hibernate_after_s: 3600 }),
      })
    ).id;
    const say = (id: string, text: string) =>
      client.beta.sessions.events.send(id, { events: [{ type: 'user.message', content: [{ type: 'text', text }] }] });
    const idle = (id: string) =>
      waitFor(async () => (await client.beta.sessions.retrieve(id)).status === 'idle', 120_000, 250);
    // The persistent session starts a daemon and goes idle; the hybrid one is mid-tool when SIGTERM arrives.
    await say(persistent, '[scenario:daemon] start it');
    expect(await waitFor(() => processesMatching('sleep 900.417').length > 0, 90_000)).toBe(true);
    expect(await idle(persistent)).toBe(true);
    await say(hybrid, '[scenario:drain] work');
    expect(await waitFor(() => processesMatching('sleep 3.271').length > 0, 90_000)).toBe(true);
    const t0 = Date.now();
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
    expect(first.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(60_000);
    // The running turn was drained (it finished before berthd exited), then the hybrid session hibernated.
    const db = new Database(join(dataDir, 'berth.db'), { readonly: true });
    const row = (id: string) =>
      db.prepare('SELECT status, sandbox_state FROM sessions WHERE id = ?').get(id) as {
        status: string;
        sandbox_state: string;
      };
    expect(row(hybrid)).toEqual({ status: 'idle', sandbox_state: 'hibernated' });
    const drained = db
      .prepare("SELECT body FROM events WHERE session_id = ? AND type = 'agent.tool_result'")
      .all(hybrid) as Array<{ body: string }>;
    expect(drained.map((r) => r.body).join()).toContain('DRAINED');
    expect(row(persistent).status).toBe('idle');
    db.close();
    // The persistent sandbox and its daemon outlived berthd.
    expect(processesMatching('sleep 900.417').length).toBeGreaterThan(0);

    const second = await startBerthd(port, ['--stop-sandboxes-on-exit', 'true']);
    // Re-adopted: the persistent session takes a turn in the same sandbox (its daemon still runs); the hybrid one
    // resumes from its snapshot on its message.
    await say(persistent, 'again');
    await say(hybrid, 'again');
    expect(await idle(persistent)).toBe(true);
    expect(await idle(hybrid)).toBe(true);
    for (const id of [persistent, hybrid]) {
      const l = await client.beta.sessions.events.list(id, { limit: 100 });
      expect(l.data.map((e) => e.type)).not.toContain('session.error');
    }
    expect(processesMatching('sleep 900.417').length).toBeGreaterThan(0);
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
    expect(await waitFor(() => processesMatching('sleep 900.417').length === 0, 10_000)).toBe(true);
    expect(mountsUnder(dataDir)).toEqual([]);
  }, 400_000);
});
