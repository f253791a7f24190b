import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { processesMatching, waitFor } from './procs.js';

type Ev = { id: string; type: string; [k: string]: unknown };
type Wire = { id: string; status: string; berth: { lifecycle: object; sandbox: { state: string } } };
const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });

describe.skipIf(e2eSkipReason() !== false)('berth.lifecycle guardrails and concurrency limits', () => {
  let t: TestBerth;
  let agentId: string;
  beforeAll(async () => {
    t = await startTestBerth({
      config: { maxSessions: 3 },
      scenarios: [
        {
          name: 'slow-tool',
          turns: [bash('node -e "setTimeout(()=>{},60000)" berth-turn-limit-marker'), text('done')],
        },
        { name: 'five-seconds', turns: [bash('node -e "setTimeout(()=>{},5000)"'), text('waited')] },
        { name: 'quick', turns: [text('hi')] },
      ],
    });
    const agent = await t.client.beta.agents.create({
      name: 'guard',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    agentId = agent.id;
  });
  afterAll(async () => t?.close());
  // A failed test must not leave live sessions behind: they would count against the next test's limits.
  const made: string[] = [];
  afterEach(async () => {
    for (const id of made.splice(0)) await t.client.beta.sessions.delete(id).catch(() => undefined);
  });

  const post = (path: string, body: object) =>
    fetch(`${t.app.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const env = async (berth?: object) => {
    const r = await post('/v1/environments', { name: 'e', config: { type: 'cloud' }, ...(berth ? { berth } : {}) });
    expect(r.status).toBe(200);
    return (await r.json()) as { id: string; berth: { lifecycle: object; max_sessions: number | null } };
  };
  const session = async (envId: string, berth?: object) => {
    const r = await post('/v1/sessions', { agent: agentId, environment_id: envId, ...(berth ? { berth } : {}) });
    if (r.status === 200) made.push(((await r.clone().json()) as { id: string }).id);
    return r;
  };

  it('resolves the policy with server defaults, lets a session override it, and refuses what this build lacks', async () => {
    const e = await env({ lifecycle: { turn_timeout_s: 600 } });
    expect(e.berth.lifecycle).toEqual({
      pattern: 'persistent',
      idle_timeout_s: null,
      max_lifetime_s: 86_400,
      turn_timeout_s: 600,
    });
    expect(e.berth.max_sessions).toBeNull();
    const r = await session(e.id, { lifecycle: { idle_timeout_s: 120, max_lifetime_s: null } });
    expect(r.status).toBe(200);
    const s = (await r.json()) as Wire;
    expect(s.berth.lifecycle).toEqual({
      pattern: 'persistent',
      idle_timeout_s: 120,
      max_lifetime_s: null,
      turn_timeout_s: 600,
    });
    await t.client.beta.sessions.delete(s.id);
    for (const [lifecycle, code, why] of [
      [{ hibernate_after_s: 60 }, 'invalid_request', /hibernate_after_s belongs to the 'hybrid' pattern/],
      [{ grace_s: 5 }, 'invalid_request', /grace_s belongs to the 'ephemeral' pattern/],
      [{ pattern: 'hybrid', keep: ['out'] }, 'invalid_request', /keep belongs to the 'ephemeral' pattern/],
    ] as const) {
      for (const res of [
        await post('/v1/environments', { name: 'x', berth: { lifecycle } }),
        await session(e.id, { lifecycle }),
      ]) {
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: { message: string; details: { error_code: string } } };
        expect(body.error.details.error_code).toBe(code);
        expect(body.error.message).toMatch(why);
      }
    }
    // keep paths are workspace-relative.
    const bad = await session(e.id, { lifecycle: { pattern: 'ephemeral', keep: ['../etc'] } });
    expect(bad.status).toBe(400);
    // A session picking another pattern inherits the environment's common limits, not its pattern's own fields.
    const h = await env({ lifecycle: { pattern: 'hybrid', hibernate_after_s: 30, turn_timeout_s: 60 } });
    expect(h.berth.lifecycle).toEqual({
      pattern: 'hybrid',
      idle_timeout_s: null,
      max_lifetime_s: 86_400,
      turn_timeout_s: 60,
      hibernate_after_s: 30,
    });
    const eph = await session(h.id, { lifecycle: { pattern: 'ephemeral', grace_s: 2, keep: ['out'] } });
    expect(eph.status).toBe(200);
    expect(((await eph.json()) as Wire).berth.lifecycle).toEqual({
      pattern: 'ephemeral',
      idle_timeout_s: null,
      max_lifetime_s: 86_400,
      turn_timeout_s: 60,
      grace_s: 2,
      keep: ['out'],
    });
    expect((await post('/v1/environments', { name: 'x', berth: { lifecycle: { turn_timeout_s: 0 } } })).status).toBe(
      400,
    );
  });

  it('a turn past turn_timeout_s is interrupted with a session.error, then the session idles and works on', async () => {
    // Long enough for the slow tool to be running when the limit hits, even on a loaded machine: the follow-up turn
    // below then gets the scenario's next (text) reply.
    const e = await env({ lifecycle: { turn_timeout_s: 10 } });
    const s = (await (await session(e.id)).json()) as Wire;
    // The agent process is up first, so the turn's 10 s are not spent starting it on a loaded machine.
    const ready = async () =>
      ((await t.client.beta.sessions.retrieve(s.id)) as unknown as Wire).berth.sandbox.state === 'ready';
    expect(await waitFor(ready, 60_000, 100)).toBe(true);
    const started = Date.now();
    const turn = collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:slow-tool] go'), 60_000);
    expect(await waitFor(() => processesMatching('berth-turn-limit-marker').length > 0, 10_000)).toBe(true);
    const events = await turn;
    const elapsed = Date.now() - started;
    const err = events.find((x) => x.type === 'session.error');
    expect(err, JSON.stringify(events.map((x) => x.type))).toBeDefined();
    expect((err!.error as { message: string }).message).toMatch(/wall-clock limit of 10 s.*turn_timeout_s/);
    expect(events.at(-1)!.type).toBe('session.status_idle');
    expect(elapsed).toBeGreaterThanOrEqual(10_000);
    expect(elapsed).toBeLessThan(30_000);
    expect(await waitFor(() => processesMatching('berth-turn-limit-marker').length === 0, 3000)).toBe(true);
    // Not terminated: the next message runs a turn.
    const next = await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:quick] again'));
    expect(next.map((x) => x.type)).not.toContain('session.error');
    expect(next.at(-1)!.type).toBe('session.status_idle');
    expect(next.some((x) => x.type === 'agent.message')).toBe(true);
    await t.client.beta.sessions.delete(s.id);
  });

  it('max_lifetime_s stops the session: session.error naming the limit, then terminated, sandbox stopped', async () => {
    const e = await env();
    const s = (await (await session(e.id, { lifecycle: { max_lifetime_s: 3 } })).json()) as Wire;
    const stream = await t.client.beta.sessions.events.stream(s.id);
    const seen: Ev[] = [];
    for await (const raw of stream) {
      seen.push(raw as unknown as Ev);
      if (seen.at(-1)!.type === 'session.status_terminated') break;
    }
    const err = seen.find((x) => x.type === 'session.error');
    expect((err!.error as { message: string }).message).toMatch(
      /maximum lifetime of 3 s \(berth.lifecycle.max_lifetime_s\)/,
    );
    const after = (await t.client.beta.sessions.retrieve(s.id)) as unknown as Wire;
    expect(after.status).toBe('terminated');
    expect(after.berth.sandbox.state).toBe('stopped');
    await t.client.beta.sessions.delete(s.id);
  });

  it('idle_timeout_s stops an idle persistent session, but never counts a running turn', async () => {
    const e = await env({ lifecycle: { idle_timeout_s: 3 } });
    const s = (await (await session(e.id)).json()) as Wire;
    // A 5 s turn is longer than the idle timeout: it must finish normally.
    const turn = await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:five-seconds] wait'));
    expect(turn.filter((x) => x.type === 'session.error')).toEqual([]);
    expect(turn.at(-1)!.type).toBe('session.status_idle');
    const idleAt = Date.now();
    expect(
      await waitFor(async () => (await t.client.beta.sessions.retrieve(s.id)).status === 'terminated', 15_000),
    ).toBe(true);
    expect(Date.now() - idleAt).toBeGreaterThanOrEqual(2500);
    const list = await t.client.beta.sessions.events.list(s.id);
    const err = list.data.find((x) => x.type === 'session.error') as unknown as Ev;
    expect((err.error as { message: string }).message).toMatch(
      /idle timeout of 3 s \(berth.lifecycle.idle_timeout_s\)/,
    );
    expect(((await t.client.beta.sessions.retrieve(s.id)) as unknown as Wire).berth.sandbox.state).toBe('stopped');
    await t.client.beta.sessions.delete(s.id);
  });

  it('answers 429 with retry-after past the environment limit and the global --max-sessions', async () => {
    const one = await env({ max_sessions: 1 });
    const other = await env();
    const refused = async (r: Response, which: RegExp) => {
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = (await r.json()) as { type: string; error: { type: string; message: string; details: object } };
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('rate_limit_error');
      expect(body.error.details).toMatchObject({ error_code: 'too_many_sessions' });
      expect(body.error.message).toMatch(which);
    };
    const ok = async (envId: string) => {
      const r = await session(envId);
      expect(r.status).toBe(200);
      return (await r.json()) as Wire;
    };
    const a = await ok(one.id);
    await refused(await session(one.id), /berth\.max_sessions = 1/);
    await ok(other.id);
    await ok(other.id);
    await refused(await session(other.id), /--max-sessions \/ BERTH_MAX_SESSIONS = 3/);
    // A deleted (or archived) session frees its place.
    await t.client.beta.sessions.archive(a.id);
    await ok(one.id);
  });
});
