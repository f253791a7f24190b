import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

const USAGE = [
  { input_tokens: 120, output_tokens: 30, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  { input_tokens: 150, output_tokens: 20, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  { input_tokens: 180, output_tokens: 5, cache_read_input_tokens: 7, cache_creation_input_tokens: 3 },
];

const scenarios = [
  {
    name: 'core',
    turns: [
      {
        content: [
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_use', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hi from berth\n' } },
        ],
        usage: USAGE[0],
      },
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: 'cat /workspace/hello.txt' } }],
        usage: USAGE[1],
      },
      { content: [{ type: 'text', text: 'Done.' }], usage: USAGE[2] },
    ],
  },
  {
    name: 'two-turns',
    turns: [
      { content: [{ type: 'text', text: 'First answer.' }] },
      { content: [{ type: 'text', text: 'Second answer.' }] },
    ],
  },
];

type Ev = { id: string; type: string; [k: string]: unknown };

/** Index of the first event at or after `from` matching `pred`, or -1. */
function findFrom(events: Ev[], from: number, pred: (e: Ev) => boolean): number {
  for (let i = from; i < events.length; i++) if (pred(events[i]!)) return i;
  return -1;
}

describe.skipIf(e2eSkipReason() !== false)('core flow with the official SDK', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios });
  });
  afterAll(async () => t?.close());

  it('runs agents → environments → sessions → events.send → stream until idle', async () => {
    const { client } = t;
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    expect(session.id).toMatch(/^sesn_/);
    expect(session.status).toBe('idle');
    type Observed = { berth: { state: string; sandbox: { state: string }; lifecycle: { pattern: string } } };
    // Desired policy and observed state side by side: the sandbox starts with the session.
    expect((session as unknown as Observed).berth).toMatchObject({
      state: 'starting',
      lifecycle: { pattern: 'persistent' },
    });
    // It is 'ready' once the agent process can take a message at once.
    let state = '';
    for (let i = 0; i < 200 && state !== 'ready'; i++) {
      const s = (await client.beta.sessions.retrieve(session.id)) as unknown as Observed;
      state = s.berth.sandbox.state;
      if (state === 'ready') expect(s.berth.state).toBe('ready');
      if (state !== 'ready') await new Promise((r) => setTimeout(r, 50));
    }
    expect(state).toBe('ready');

    const events = await collectTurn(client, session.id, () =>
      say(client, session.id, '[scenario:core] write and run'),
    );
    for (const e of events) expect(e.id).toMatch(/^sevt_/);

    // The required order, as a subsequence of the stream.
    let i = findFrom(events, 0, (e) => e.type === 'user.message');
    expect(i).toBe(0);
    i = findFrom(events, i, (e) => e.type === 'session.status_running');
    expect(i).toBeGreaterThan(0);
    const write = findFrom(events, i, (e) => e.type === 'agent.tool_use' && e.name === 'write');
    expect(write).toBeGreaterThan(i);
    const bash = findFrom(events, write, (e) => e.type === 'agent.tool_use' && e.name === 'bash');
    expect(bash).toBeGreaterThan(write);
    const bashResult = findFrom(
      events,
      bash,
      (e) => e.type === 'agent.tool_result' && e.tool_use_id === events[bash]!.id,
    );
    expect(bashResult).toBeGreaterThan(bash);
    expect(JSON.stringify(events[bashResult]!.content)).toContain('hi from berth');
    const done = findFrom(
      events,
      bashResult,
      (e) => e.type === 'agent.message' && JSON.stringify(e.content).includes('Done.'),
    );
    expect(done).toBeGreaterThan(bashResult);
    const lastSpan = findFrom(events, done, (e) => e.type === 'span.model_request_end');
    expect(lastSpan).toBeGreaterThan(done);
    const idle = events.at(-1)!;
    expect(idle.type).toBe('session.status_idle');
    expect(idle.stop_reason).toEqual({ type: 'end_turn' });
    expect(idle.stop_details).toBeNull();

    // Each model request's span carries exactly the usage the scenario reported, in order.
    const spans = events.filter((e) => e.type === 'span.model_request_end');
    expect(spans.map((s) => s.model_usage)).toEqual(USAGE);
    const starts = new Set(events.filter((e) => e.type === 'span.model_request_start').map((e) => e.id));
    for (const s of spans) expect(starts.has(s.model_request_start_id as string)).toBe(true);

    // events.list returns the same ids in the same order; auto-pagination with limit 1 ends with the same ids.
    const listed = await client.beta.sessions.events.list(session.id);
    expect(listed.data.map((e) => e.id)).toEqual(events.map((e) => e.id));
    const paged: string[] = [];
    for await (const e of client.beta.sessions.events.list(session.id, { limit: 1 })) paged.push(e.id);
    expect(paged).toEqual(events.map((e) => e.id));

    // The session's usage comes from the gateway's ledger and matches the scenario exactly.
    const after = await client.beta.sessions.retrieve(session.id);
    expect(after.status).toBe('idle');
    expect(after.usage).toMatchObject({
      input_tokens: 450,
      output_tokens: 55,
      cache_read_input_tokens: 7,
      cache_creation: { ephemeral_5m_input_tokens: 3 },
    });
    expect((after as unknown as Observed).berth.state).toBe('ready');
    await client.beta.sessions.archive(session.id);
    expect(((await client.beta.sessions.retrieve(session.id)) as unknown as Observed).berth.state).toBe('stopped');
    await client.beta.sessions.delete(session.id);
  });

  it('continues the conversation: the model receives the earlier history', async () => {
    const { client, app } = t;
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const first = await collectTurn(client, session.id, () =>
      say(client, session.id, '[scenario:two-turns] first question'),
    );
    expect(JSON.stringify(first.filter((e) => e.type === 'agent.message'))).toContain('First answer.');
    const before = app.scriptedModel!.requests.length;
    const second = await collectTurn(client, session.id, () => say(client, session.id, 'second question'));
    expect(JSON.stringify(second.filter((e) => e.type === 'agent.message'))).toContain('Second answer.');
    const req = app
      .scriptedModel!.requests.slice(before)
      .find((r) => JSON.stringify(r.body).includes('second question'));
    expect(req).toBeDefined();
    const history = JSON.stringify((req!.body as { messages: unknown[] }).messages);
    expect(history).toContain('first question');
    expect(history).toContain('First answer.');
    expect(history).toContain('second question');
    await client.beta.sessions.delete(session.id);
  });
});
