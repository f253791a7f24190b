import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

describe.skipIf(e2eSkipReason() !== false)('a sandbox that cannot start', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ config: { bwrapPath: '/nonexistent/bwrap' } });
  });
  afterAll(async () => t?.close());

  it('ends the session with a clear session.error and leaves berthd serving', async () => {
    const { client } = t;
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const events = await collectTurn(client, session.id, () => say(client, session.id, 'hello'));
    const err = events.find((e) => e.type === 'session.error');
    expect(err?.error).toMatchObject({ type: 'unknown_error', retry_status: { type: 'terminal' } });
    expect(String((err!.error as { message: string }).message)).toMatch(/sandbox failed to start.*bwrap/i);
    expect(events.at(-1)!.type).toBe('session.status_terminated');
    const after = await client.beta.sessions.retrieve(session.id);
    expect(after.status).toBe('terminated');
    await expect(say(client, session.id, 'again')).rejects.toMatchObject({ status: 400 });
    // berthd is still up and answering.
    expect((await client.beta.agents.list()).data.length).toBeGreaterThan(0);
  });
});
