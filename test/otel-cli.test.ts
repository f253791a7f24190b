import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

const COLLECTOR_TOKEN = 'collector-secret-5b1e';

/**
 * `--otel-cli`: the real Claude CLI in a bwrap sandbox (no route but berthd's forwarders) exports its own metrics and
 * log events; they reach the collector only through the model forwarder and berthd's gateway relay, which adds the
 * collector's header. The sandbox never sees the collector's URL or header.
 */
describe.skipIf(e2eSkipReason() !== false)('--otel-cli: the CLI exports its telemetry through berthd', () => {
  let t: TestBerth;
  let otlp: OtlpReceiver;
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    t = await startTestBerth({
      config: { otlpEndpoint: otlp.url, otlpHeaders: `authorization=Bearer%20${COLLECTOR_TOKEN}`, otelCli: true },
      scenarios: [
        {
          name: 'env',
          turns: [
            { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'env; cat /proc/self/environ' } }] },
            { content: [{ type: 'text', text: 'Done.' }] },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    await otlp?.close();
  });

  it('relays the CLI metrics and log events with the collector header, tagged with the session', async () => {
    const { client } = t;
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const events = await collectTurn(client, session.id, () => say(client, session.id, '[scenario:env] show env'));
    const toolOutput = JSON.stringify(events.filter((e) => e.type === 'agent.tool_result'));
    expect(toolOutput).toContain('PATH=');
    // Neither the collector's address nor its credential is in the sandbox.
    expect(toolOutput).not.toContain(otlp.url);
    expect(toolOutput).not.toContain(COLLECTOR_TOKEN);
    // The CLI flushes its exporters when it ends (the session's delete stops it).
    await client.beta.sessions.delete(session.id);
    const fromCli = () => otlp.requests.filter((r) => r.path === '/v1/logs' || r.path === '/v1/metrics');
    for (let i = 0; i < 80 && fromCli().length === 0; i++) await new Promise((r) => setTimeout(r, 250));
    const got = fromCli();
    expect(got.length).toBeGreaterThan(0);
    for (const r of got) {
      expect(r.headers.authorization).toBe(`Bearer ${COLLECTOR_TOKEN}`);
      // The gateway token the CLI authenticated with stays inside berthd.
      expect(r.headers['x-api-key']).toBeUndefined();
      expect(r.contentType).toBe('application/json');
      expect(r.body).toContain(session.id);
      expect(r.body).toContain('claude-code');
    }
  });
});
