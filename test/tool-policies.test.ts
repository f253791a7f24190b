import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * Agent tool policies end to end (the official SDK as the client, the real CLI, the scripted model): `always_ask`
 * confirmations, custom tools, disabled tools, and the web_fetch domain lists.
 */

/** The command's output (`42RAN`) never appears in the command text itself. */
const COMMAND = 'echo $((6*7))RAN';

const scenarios = [
  {
    name: 'ask-bash',
    turns: [
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: COMMAND, description: 'compute' } }] },
      { content: [{ type: 'text', text: 'Done with bash.' }] },
    ],
  },
  {
    name: 'ask-two',
    turns: [
      {
        content: [
          { type: 'tool_use', name: 'Bash', input: { command: 'echo $((2*3))FIRST', description: 'first' } },
          { type: 'tool_use', name: 'Bash', input: { command: 'echo $((3*3))SECOND', description: 'second' } },
        ],
      },
      { content: [{ type: 'text', text: 'Both done.' }] },
    ],
  },
  {
    name: 'price',
    turns: [
      { content: [{ type: 'tool_use', name: 'lookup_price', input: { sku: 'A-1' } }] },
      { content: [{ type: 'text', text: 'Got the price.' }] },
    ],
  },
  {
    name: 'fetch-elsewhere',
    turns: [
      { content: [{ type: 'tool_use', name: 'WebFetch', input: { url: 'http://other.test/x', prompt: 'read' } }] },
      { content: [{ type: 'text', text: 'Fetched.' }] },
    ],
  },
];

const stop = (e: Ev | undefined) => (e?.stop_reason as { type: string; event_ids?: string[] } | undefined) ?? null;

describe.skipIf(e2eSkipReason() !== false)('agent tool policies', () => {
  let t: TestBerth;
  let envId: string;

  beforeAll(async () => {
    t = await startTestBerth({ scenarios });
    envId = (await t.client.beta.environments.create({ name: 'tools', config: { type: 'cloud' } })).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  async function sessionWith(tools: unknown[]): Promise<string> {
    const agent = await t.client.beta.agents.create({
      name: 'tools',
      model: 'claude-sonnet-4-5',
      tools: tools as never,
    });
    return (await t.client.beta.sessions.create({ agent: agent.id, environment_id: envId })).id;
  }

  const askBash = [
    { type: 'agent_toolset_20260401', configs: [{ name: 'bash', permission_policy: { type: 'always_ask' } }] },
  ];

  /** Model requests whose messages contain `needle`. */
  const requestsWith = (needle: string) =>
    t.app.scriptedModel!.requests.filter((r) => JSON.stringify(r.body).includes(needle));

  it('an always_ask bash call waits for the client; allow runs the command', async () => {
    const id = await sessionWith(askBash);
    const first = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:ask-bash] go'), {
      untilRequiresAction: true,
    });
    const use = first.find((e) => e.type === 'agent.tool_use')!;
    expect(use).toMatchObject({ name: 'bash', evaluated_permission: 'ask', evaluation: { type: 'always_ask' } });
    expect(stop(first.at(-1))).toEqual({ type: 'requires_action', event_ids: [use.id] });
    expect(first.some((e) => e.type === 'agent.tool_result')).toBe(false);
    expect((await t.client.beta.sessions.retrieve(id)).status).toBe('idle');

    const rest = await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }],
      }),
    );
    const types = rest.map((e) => e.type);
    expect(types.indexOf('session.status_running')).toBeGreaterThan(types.indexOf('user.tool_confirmation'));
    const result = rest.find((e) => e.type === 'agent.tool_result')!;
    expect(result).toMatchObject({ tool_use_id: use.id, is_error: false });
    expect(JSON.stringify(result.content)).toContain('42RAN');
    expect(JSON.stringify(rest)).toContain('Done with bash.');
  });

  it('deny does not run the command, and the agent receives the denial message', async () => {
    const id = await sessionWith(askBash);
    const first = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:ask-bash] go'), {
      untilRequiresAction: true,
    });
    const use = first.find((e) => e.type === 'agent.tool_use')!;
    const denial = `not on prod ${Math.random().toString(36).slice(2)}`;
    const rest = await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'deny', deny_message: denial }],
      }),
    );
    const result = rest.find((e) => e.type === 'agent.tool_result')!;
    expect(result).toMatchObject({ tool_use_id: use.id, is_error: true });
    expect(JSON.stringify(result.content)).toContain(denial);
    expect(JSON.stringify(rest)).not.toContain('42RAN');
    // The model's next request carries the denial as the tool's error result.
    const followUp = requestsWith(denial);
    expect(followUp.length).toBeGreaterThan(0);
    expect(JSON.stringify(followUp[0]!.body)).not.toContain('42RAN');
  });

  it('an interrupt while a call waits refuses the call and ends the turn', async () => {
    const id = await sessionWith(askBash);
    const first = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:ask-bash] go'), {
      untilRequiresAction: true,
    });
    const use = first.find((e) => e.type === 'agent.tool_use')!;
    const rest = await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, { events: [{ type: 'user.interrupt' }] }),
    );
    expect(rest.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    expect(JSON.stringify(rest)).not.toContain('42RAN');
    // The call no longer waits: answering it now is refused.
    await expect(
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }],
      }),
    ).rejects.toMatchObject({ status: 400 });
    // And the session takes the next message.
    const next = await collectTurn(t.client, id, () => say(t.client, id, 'hello again'));
    expect(next.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
  });

  it('two pending confirmations: answering one re-emits idle with the other; the last resumes both', async () => {
    const id = await sessionWith(askBash);
    const first = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:ask-two] go'), {
      untilRequiresAction: true,
    });
    const uses = first.filter((e) => e.type === 'agent.tool_use');
    expect(uses).toHaveLength(2);
    expect(stop(first.at(-1))).toEqual({ type: 'requires_action', event_ids: uses.map((u) => u.id) });

    const second = await collectTurn(
      t.client,
      id,
      () =>
        t.client.beta.sessions.events.send(id, {
          events: [{ type: 'user.tool_confirmation', tool_use_id: uses[0]!.id, result: 'allow' }],
        }),
      { untilRequiresAction: true },
    );
    expect(stop(second.at(-1))).toEqual({ type: 'requires_action', event_ids: [uses[1]!.id] });
    expect(second.some((e) => e.type === 'session.status_running')).toBe(false);

    // Answering the first again is refused: it no longer waits.
    await expect(
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: uses[0]!.id, result: 'allow' }],
      }),
    ).rejects.toMatchObject({ status: 400 });

    const rest = await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: uses[1]!.id, result: 'allow' }],
      }),
    );
    const results = rest.filter((e) => e.type === 'agent.tool_result');
    // Both ran (the CLI may finish them in either order).
    expect(results.map((r) => r.tool_use_id).sort()).toEqual(uses.map((u) => u.id).sort());
    expect(JSON.stringify(results)).toContain('6FIRST');
    expect(JSON.stringify(results)).toContain('9SECOND');
  });

  it('a custom tool round trip: the client computes the result and the next model call contains it', async () => {
    const id = await sessionWith([
      { type: 'agent_toolset_20260401' },
      {
        type: 'custom',
        name: 'lookup_price',
        description: 'Looks up the price of a SKU.',
        input_schema: { type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] },
      },
    ]);
    const first = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:price] how much?'), {
      untilRequiresAction: true,
    });
    const use = first.find((e) => e.type === 'agent.custom_tool_use')!;
    expect(use).toMatchObject({ name: 'lookup_price', input: { sku: 'A-1' } });
    expect(stop(first.at(-1))).toEqual({ type: 'requires_action', event_ids: [use.id] });
    // The model was offered the tool with the agent's own schema.
    const offered = t.app.scriptedModel!.requests.at(-1)!.body as {
      tools?: Array<{ name: string; input_schema: unknown }>;
    };
    expect(offered.tools?.find((x) => x.name === 'mcp__custom__lookup_price')?.input_schema).toMatchObject({
      properties: { sku: { type: 'string' } },
      required: ['sku'],
    });

    // Malformed results are refused before anything reaches the agent.
    for (const bad of [
      { type: 'user.custom_tool_result', custom_tool_use_id: use.id, content: [{ type: 'image' }] },
      { type: 'user.custom_tool_result', custom_tool_use_id: 'sevt_01ARZ3NDEKTSV4RRFFQ69G5FAV', content: [] },
      { type: 'user.custom_tool_result', custom_tool_use_id: use.id, is_error: 'yes' },
      { type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' },
    ]) {
      await expect(t.client.beta.sessions.events.send(id, { events: [bad as never] })).rejects.toMatchObject({
        status: 400,
      });
    }

    const price = `PRICE-${Math.random().toString(36).slice(2)}`;
    const rest = await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, {
        events: [
          { type: 'user.custom_tool_result', custom_tool_use_id: use.id, content: [{ type: 'text', text: price }] },
        ],
      }),
    );
    expect(rest[0]).toMatchObject({ type: 'user.custom_tool_result', custom_tool_use_id: use.id });
    expect(rest.some((e) => e.type === 'agent.tool_result')).toBe(false);
    expect(JSON.stringify(rest)).toContain('Got the price.');
    const next = requestsWith(price);
    expect(next.length).toBeGreaterThan(0);
    const toolResults = JSON.stringify((next[0]!.body as { messages: unknown[] }).messages.at(-1));
    expect(toolResults).toContain('tool_result');
    expect(toolResults).toContain(price);
  });

  it('a disabled tool is never offered to the model', async () => {
    const id = await sessionWith([
      {
        type: 'agent_toolset_20260401',
        configs: [
          { name: 'bash', enabled: false },
          { name: 'web_fetch', enabled: false },
        ],
      },
    ]);
    const before = t.app.scriptedModel!.requests.length;
    await collectTurn(t.client, id, () => say(t.client, id, 'hello'), { untilRequiresAction: true });
    const reqs = t.app
      .scriptedModel!.requests.slice(before)
      .filter((r) => Array.isArray((r.body as { tools?: unknown }).tools));
    expect(reqs.length).toBeGreaterThan(0);
    const names = (reqs[0]!.body as { tools: Array<{ name: string }> }).tools.map((x) => x.name);
    expect(names).toContain('Read');
    expect(names).not.toContain('Bash');
    expect(names).not.toContain('WebFetch');
    // Nothing outside the toolset either: Claude Code's other built-ins (Agent, Cron*, …) have no counterpart.
    expect(names.filter((n) => !['Read', 'Write', 'Edit', 'Glob', 'Grep', 'WebSearch'].includes(n))).toEqual([]);
  });

  it('web_fetch outside allowed_domains is refused before it runs', async () => {
    const id = await sessionWith([
      { type: 'agent_toolset_20260401', configs: [{ name: 'web_fetch', allowed_domains: ['docs.example.com'] }] },
    ]);
    const events = await collectTurn(t.client, id, () => say(t.client, id, '[scenario:fetch-elsewhere] go'));
    const result = events.find((e) => e.type === 'agent.tool_result')!;
    expect(result.is_error).toBe(true);
    expect(JSON.stringify(result.content)).toContain('allowed_domains are docs.example.com');
  });

  it('refuses fields it cannot honour with a 400 that names them', async () => {
    const refused = async (agent: object, needle: string, env = envId) => {
      const a = await t.client.beta.agents.create({ name: 'refused', model: 'claude-sonnet-4-5', ...agent });
      const err = await t.client.beta.sessions.create({ agent: a.id, environment_id: env }).catch((e: Error) => e);
      expect(err).toMatchObject({ status: 400 });
      expect((err as Error).message).toContain(needle);
    };
    const toolset = (config: object) => ({ tools: [{ type: 'agent_toolset_20260401', configs: [config] }] });
    await refused(
      toolset({ name: 'read', permission_policy: { type: 'auto' } }),
      "'auto' permission policy (tool 'read'",
    );
    await refused(toolset({ name: 'web_fetch', max_content_tokens: 100 }), 'web_fetch.max_content_tokens');
    await refused(toolset({ name: 'bash', allowed_domains: ['x.test'] }), "domain lists on tool 'bash'");
    await refused({ model: { id: 'claude-sonnet-4-5', inference_geo: 'eu' } }, 'model.inference_geo');
    const pkgEnv = await t.client.beta.environments.create({
      name: 'pkgs',
      config: {
        type: 'cloud',
        networking: { type: 'limited', allow_package_managers: true },
        packages: { npm: ['left-pad'] },
      },
    });
    await refused({}, 'config.packages (npm)', pkgEnv.id);
    await refused({ skills: [{ type: 'anthropic', skill_id: 'pdf' }] }, 'skills');
    const selfHosted = await t.client.beta.environments.create({ name: 'sh', config: { type: 'self_hosted' } });
    await refused({}, 'self_hosted', selfHosted.id);
    const plain = await t.client.beta.agents.create({ name: 'plain', model: 'claude-sonnet-4-5' });
    const memory = await t.client.beta.sessions
      .create({
        agent: plain.id,
        environment_id: envId,
        resources: [{ type: 'memory_store', memory_store_id: 'memstore_1' }],
      } as never)
      .catch((e: Error) => e);
    expect(memory).toMatchObject({ status: 400 });
    expect((memory as Error).message).toContain("'memory_store'");
    const multi = await t.client.beta.agents
      .create({ name: 'multi', model: 'claude-sonnet-4-5', multiagent: { type: 'coordinator' } } as never)
      .catch((e: Error) => e);
    expect(multi).toMatchObject({ status: 400 });
  });
});
