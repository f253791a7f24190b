import { toFile } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Body = { system?: unknown; model?: string; tools?: Array<{ name: string }>; messages?: unknown[] };

/**
 * The agent definition reaches the model as written (checked at the scripted model): `system`, `model`, version
 * pinning, `agent_with_overrides`, `initial_events`, and a live `sessions.update` of `agent.tools`.
 */
describe.skipIf(e2eSkipReason() !== false)('agent definitions reach the model', () => {
  let t: TestBerth;

  beforeAll(async () => {
    t = await startTestBerth({
      scenarios: [
        {
          name: 'ask-bash',
          turns: [{ content: [{ type: 'tool_use', name: 'Bash', input: { command: 'true', description: 'noop' } }] }],
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The agent-loop requests (they carry tools; the CLI's title call has none) whose messages contain `needle`. */
  const loopRequests = (needle: string): Body[] =>
    t.app
      .scriptedModel!.requests.map((r) => r.body as Body)
      .filter((b) => Array.isArray(b.tools) && JSON.stringify(b.messages).includes(needle));

  const nonce = () => Math.random().toString(36).slice(2, 10);

  it('system and model reach the model; a pinned version keeps its old system prompt after an update', async () => {
    const v1 = `SYSTEM-ONE-${nonce()}`;
    const v2 = `SYSTEM-TWO-${nonce()}`;
    const { agentId, envId } = await agentAndEnv(t.client, v1);
    await t.client.beta.agents.update(agentId, { version: 1, system: v2 });

    const pinned = await t.client.beta.sessions.create({
      agent: { type: 'agent', id: agentId, version: 1 },
      environment_id: envId,
    });
    const latest = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const mPinned = `pinned-${nonce()}`;
    const mLatest = `latest-${nonce()}`;
    await collectTurn(t.client, pinned.id, () => say(t.client, pinned.id, mPinned));
    await collectTurn(t.client, latest.id, () => say(t.client, latest.id, mLatest));

    const [p] = loopRequests(mPinned);
    const [l] = loopRequests(mLatest);
    expect(JSON.stringify(p!.system)).toContain(v1);
    expect(JSON.stringify(p!.system)).not.toContain(v2);
    expect(JSON.stringify(l!.system)).toContain(v2);
    expect(p!.model).toBe('claude-sonnet-4-5');
    expect(pinned.agent.version).toBe(1);
    expect(latest.agent.version).toBe(2);
  });

  it('agent_with_overrides applies its system and model to that session only', async () => {
    const base = `BASE-${nonce()}`;
    const over = `OVERRIDE-${nonce()}`;
    const { agentId, envId } = await agentAndEnv(t.client, base);
    const s = await t.client.beta.sessions.create({
      agent: { type: 'agent_with_overrides', id: agentId, system: over, model: 'claude-haiku-4-5' } as never,
      environment_id: envId,
    });
    const m = `override-msg-${nonce()}`;
    await collectTurn(t.client, s.id, () => say(t.client, s.id, m));
    const [req] = loopRequests(m);
    expect(JSON.stringify(req!.system)).toContain(over);
    expect(JSON.stringify(req!.system)).not.toContain(base);
    expect(req!.model).toBe('claude-haiku-4-5');
    // The agent itself is unchanged.
    expect((await t.client.beta.agents.retrieve(agentId)).system).toBe(base);
  });

  it('model.effort reaches the model request; an effort the SDK lacks is refused by name', async () => {
    const envId = (await t.client.beta.environments.create({ name: 'effort', config: { type: 'cloud' } })).id;
    const agent = await t.client.beta.agents.create({
      name: 'effort',
      model: { id: 'claude-opus-4-6', effort: 'high' } as never,
    });
    const s = await t.client.beta.sessions.create({ agent: agent.id, environment_id: envId });
    const m = `effort-${nonce()}`;
    await collectTurn(t.client, s.id, () => say(t.client, s.id, m));
    const [req] = loopRequests(m);
    expect((req as { output_config?: unknown }).output_config).toEqual({ effort: 'high' });

    const odd = await t.client.beta.agents.create({
      name: 'odd',
      model: { id: 'claude-opus-4-6', effort: { type: 'extreme' } } as never,
    });
    const err = await t.client.beta.sessions.create({ agent: odd.id, environment_id: envId }).catch((e: Error) => e);
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toContain("model.effort 'extreme'");
  });

  it('initial_events start the first turn at create', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const m = `initial-${nonce()}`;
    const s = await t.client.beta.sessions.create({
      agent: agentId,
      environment_id: envId,
      initial_events: [{ type: 'user.message', content: [{ type: 'text', text: m }] }],
    });
    // The turn may end before a stream could open: read the history until it does.
    let events: Array<{ type: string; [k: string]: unknown }> = [];
    for (let i = 0; i < 600 && !events.some((e) => e.type === 'session.status_idle'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      events = (await t.client.beta.sessions.events.list(s.id)).data as unknown as typeof events;
    }
    expect(events.find((e) => e.type === 'user.message')).toMatchObject({ content: [{ type: 'text', text: m }] });
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    expect(loopRequests(m).length).toBeGreaterThan(0);
  });

  it('a system.message mid-session is echoed and reaches the model as a turn marked as the system', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    await collectTurn(t.client, s.id, () => say(t.client, s.id, 'hello'));
    const note = `order-shipped-${nonce()}`;
    const events = await collectTurn(t.client, s.id, () =>
      t.client.beta.sessions.events.send(s.id, {
        events: [{ type: 'system.message', content: [{ type: 'text', text: note }] }] as never,
      }),
    );
    expect(events[0]).toMatchObject({ type: 'system.message', content: [{ type: 'text', text: note }] });
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    const [req] = loopRequests(note);
    expect(JSON.stringify(req!.messages)).toContain(`<system-message>\\n${note}`);
  });

  it('a message may reference an uploaded file: the model gets its content, the history keeps the reference', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const secret = `doc-body-${nonce()}`;
    const file = await t.client.beta.files.upload({ file: await toFile(Buffer.from(`${secret}\n`), 'notes.txt') });
    const events = await collectTurn(t.client, s.id, () =>
      t.client.beta.sessions.events.send(s.id, {
        events: [
          {
            type: 'user.message',
            content: [
              { type: 'text', text: 'summarise the attached notes' },
              { type: 'document', source: { type: 'file', file_id: file.id } },
            ],
          },
        ],
      } as never),
    );
    expect(events[0]).toMatchObject({ content: [{}, { source: { type: 'file', file_id: file.id } }] });
    expect(JSON.stringify(events[0])).not.toContain(secret);
    expect(loopRequests(secret).length).toBeGreaterThan(0);
    const missing = await t.client.beta.sessions.events
      .send(s.id, {
        events: [
          {
            type: 'user.message',
            content: [{ type: 'document', source: { type: 'file', file_id: 'file_01ARZ3NDEKTSV4RRFFQ69G5FAV' } }],
          },
        ],
      } as never)
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404 });
  });

  it('sessions.update of agent.tools applies to the next turn and keeps the conversation', async () => {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const first = `before-update-${nonce()}`;
    await collectTurn(t.client, s.id, () => say(t.client, s.id, first));
    expect(loopRequests(first)[0]!.tools!.map((x) => x.name)).toContain('Bash');

    const updated = await t.client.beta.sessions.update(s.id, {
      agent: { tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'bash', enabled: false }] }] },
    } as never);
    const bash = (updated.agent.tools[0] as { configs: Array<{ name: string; enabled: boolean }> }).configs.find(
      (c) => c.name === 'bash',
    );
    expect(bash?.enabled).toBe(false);

    const second = `after-update-${nonce()}`;
    await collectTurn(t.client, s.id, () => say(t.client, s.id, second));
    const [req] = loopRequests(second);
    expect(req!.tools!.map((x) => x.name)).not.toContain('Bash');
    expect(req!.tools!.map((x) => x.name)).toContain('Read');
    // The new agent process resumed the conversation.
    expect(JSON.stringify(req!.messages)).toContain(first);
    const history = await t.client.beta.sessions.events.list(s.id);
    expect(history.data.some((e) => e.type === 'session.updated')).toBe(true);
  });

  it('refuses sessions.update of agent.tools while a tool call waits for the client (409)', async () => {
    const agent = await t.client.beta.agents.create({
      name: 'ask',
      model: 'claude-sonnet-4-5',
      tools: [
        { type: 'agent_toolset_20260401', configs: [{ name: 'bash', permission_policy: { type: 'always_ask' } }] },
      ],
    });
    const envId = (await t.client.beta.environments.create({ name: 'busy', config: { type: 'cloud' } })).id;
    const s = await t.client.beta.sessions.create({ agent: agent.id, environment_id: envId });
    await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:ask-bash] go'), {
      untilRequiresAction: true,
    });
    const err = await t.client.beta.sessions
      .update(s.id, { agent: { tools: [{ type: 'agent_toolset_20260401' }] } } as never)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409 });
    expect((err as Error).message).toContain('only while it is idle');
  });
});
