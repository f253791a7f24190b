import { request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
import { parseExposition, type Exposition } from './prom.js';

const USAGE = [
  { input_tokens: 321, output_tokens: 45, cache_read_input_tokens: 12, cache_creation_input_tokens: 7 },
  { input_tokens: 400, output_tokens: 9, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
];
const scenarios = [
  {
    name: 'obs',
    turns: [
      {
        content: [
          {
            type: 'tool_use',
            name: 'Bash',
            // Two refusals by the egress proxy: a plain HTTP request and a CONNECT tunnel.
            input: { command: 'curl -sS http://denied.example.com/x; curl -sS https://denied.example.com/; true' },
          },
        ],
        usage: USAGE[0],
      },
      { content: [{ type: 'text', text: 'Done.' }], usage: USAGE[1] },
    ],
  },
  { name: 'overloaded', turns: [{ error: { status: 529, type: 'overloaded_error', message: 'try later' } }] },
];

/** A request to a sandbox's model gateway socket, as a process inside it would send one; resolves the status. */
function gatewayCall(socketPath: string, apiKey: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/v1/messages', method: 'POST', headers: { 'x-api-key': apiKey } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

/** A W3C trace context the client sends with its request: berthd's request span must continue it. */
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

describe.skipIf(e2eSkipReason() !== false)('observability: metrics, tracing and logs of a real turn', () => {
  let t: TestBerth;
  let otlp: OtlpReceiver;
  let log = '';
  /** The session whose model requests failed upstream (its spans are checked once they are flushed). */
  let overloaded = '';
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    t = await startTestBerth({
      scenarios,
      config: { otlpEndpoint: otlp.url, metricsPort: 0, logLevel: 'debug' },
      logStream: new Writable({
        write(c: Buffer, _e, cb) {
          log += c.toString();
          cb();
        },
      }),
    });
  });
  afterAll(async () => {
    await t?.close();
    await otlp?.close();
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${t.app.metricsUrl!}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return parseExposition(await res.text());
  }

  it('serves /metrics behind the admin key on the API port and without one on the metrics port', async () => {
    expect((await fetch(`${t.app.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${t.app.url}/metrics`, { headers: { authorization: `Bearer ${t.app.adminKey}` } });
    expect(res.status).toBe(200);
    expect(parseExposition(await res.text()).types.get('berth_model_requests_total')).toBe('counter');
    expect((await fetch(`${t.app.metricsUrl!}/v1/agents`)).status).toBe(404);
    expect((await fetch(`${t.app.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', problems: [] });
  });

  it('counts upstream errors and requests the gateway refuses', async () => {
    const { client } = t;
    const before = await scrape();
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    overloaded = session.id;
    const seen = t.app.scriptedModel!.requests.length;
    const events = await collectTurn(client, session.id, () =>
      client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.message', content: [{ type: 'text', text: '[scenario:overloaded] hi' }] }],
      }),
    );
    expect(events.some((e) => e.type === 'session.error' || e.type === 'session.status_idle')).toBe(true);
    const failed = t.app.scriptedModel!.requests.slice(seen).filter((r) => r.path === '/v1/messages').length;
    expect(failed).toBeGreaterThanOrEqual(1);
    // A process in the sandbox with a wrong token: refused by the gateway, never sent upstream.
    const s = (await client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const socket = join(t.dataDir, 'run', s.berth.sandbox.id, 'model.sock');
    expect(await gatewayCall(socket, 'bgt_not-a-session-token')).toBe(401);
    const after = await scrape();
    const delta = (name: string, labels?: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    expect(delta('berth_model_requests_total', { route: 'messages', code: '529' })).toBe(failed);
    expect(delta('berth_model_request_errors_total', { kind: 'upstream' })).toBe(failed);
    expect(delta('berth_model_request_errors_total', { kind: 'unauthenticated' })).toBe(1);
    expect(delta('berth_model_requests_total', { route: 'messages', code: '200' })).toBe(0);
    expect(delta('berth_model_tokens_total', { type: 'input' })).toBe(0);
    await client.beta.sessions.delete(session.id);
  });

  it('counts a turn exactly: model requests, tokens, latency, sandbox, turn, egress; bounded labels', async () => {
    const { client } = t;
    const before = await scrape();
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const seen = t.app.scriptedModel!.requests.length;
    const events = await collectTurn(client, session.id, () =>
      client.beta.sessions.events.send(
        session.id,
        { events: [{ type: 'user.message', content: [{ type: 'text', text: '[scenario:obs] try the network' }] }] },
        { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } },
      ),
    );
    expect(events.at(-1)?.type).toBe('session.status_idle');
    const modelCalls = t.app.scriptedModel!.requests.slice(seen).filter((r) => r.path === '/v1/messages');
    expect(modelCalls.length).toBeGreaterThanOrEqual(2);
    const after = await scrape();
    const delta = (name: string, labels?: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);

    // Exactly the requests the scripted model saw, all answered 200, each with one latency sample.
    expect(delta('berth_model_requests_total', { route: 'messages', code: '200' })).toBe(modelCalls.length);
    expect(delta('berth_model_request_seconds_count', { route: 'messages' })).toBe(modelCalls.length);
    expect(delta('berth_model_request_seconds_sum', { route: 'messages' })).toBeGreaterThan(0);
    expect(delta('berth_model_request_errors_total', { kind: 'upstream' })).toBe(0);
    // Tokens: the scripted usage of the scenario's turns, plus what the CLI's other calls (title) reported.
    const scripted = (k: keyof (typeof USAGE)[0]) => USAGE.reduce((n, u) => n + u[k], 0);
    const extra = modelCalls.length - USAGE.length;
    const input = delta('berth_model_tokens_total', { type: 'input' });
    if (extra === 0) expect(input).toBe(scripted('input_tokens'));
    else expect(input).toBeGreaterThan(scripted('input_tokens'));
    expect(delta('berth_model_tokens_total', { type: 'cache_read' })).toBe(scripted('cache_read_input_tokens'));
    expect(delta('berth_model_tokens_total', { type: 'cache_creation' })).toBe(scripted('cache_creation_input_tokens'));
    if (extra === 0) expect(delta('berth_model_tokens_total', { type: 'output' })).toBe(scripted('output_tokens'));

    expect(delta('berth_sandbox_create_seconds_count', { driver: 'bwrap', outcome: 'ok' })).toBe(1);
    expect(delta('berth_sandbox_ready_seconds_count', { driver: 'bwrap' })).toBe(1);
    expect(delta('berth_sessions_started_total', { driver: 'bwrap' })).toBe(1);
    expect(delta('berth_session_turns_total')).toBe(1);
    expect(delta('berth_session_turn_seconds_count')).toBe(1);
    expect(after.value('berth_sessions', { status: 'idle' })).toBe(1);
    expect(after.value('berth_sessions', { status: 'running' })).toBe(0);
    expect(after.value('berth_sandboxes', { driver: 'bwrap', state: 'ready' })).toBe(1);
    expect(delta('berth_egress_decisions_total', { decision: 'denied', kind: 'http' })).toBe(1);
    expect(delta('berth_egress_decisions_total', { decision: 'denied', kind: 'connect' })).toBe(1);
    // The sandbox's cgroup: the runner and the CLI use tens of MB and some CPU.
    const mem = after.value('berth_sandboxes_memory_bytes', { driver: 'bwrap' });
    expect(mem).toBeGreaterThan(10 * 1024 * 1024);
    expect(after.value('berth_sandbox_memory_max_bytes', { driver: 'bwrap' })).toBe(mem);
    const cpu = after.value('berth_sandbox_cpu_seconds_total', { driver: 'bwrap' });
    expect(cpu).toBeGreaterThan(0.05);

    // Bounded cardinality: no label value is an id, and no berth_ family grows past a handful of series.
    const perFamily = new Map<string, number>();
    for (const s of after.samples) {
      for (const v of Object.values(s.labels)) {
        expect(v).not.toMatch(/(sesn|sbx|sevt|agent|env|req)_[0-9A-Za-z]{8,}/);
        expect(v).not.toContain(session.id);
      }
      if (!s.name.startsWith('berth_') || s.labels.le !== undefined) continue;
      perFamily.set(s.name, (perFamily.get(s.name) ?? 0) + 1);
    }
    for (const [name, n] of perFamily) expect(n, name).toBeLessThanOrEqual(12);

    // The sandbox's CPU stays counted after it is gone: the counter never goes down.
    await client.beta.sessions.delete(session.id);
    const gone = await scrape();
    expect(gone.value('berth_sandboxes', { driver: 'bwrap', state: 'ready' })).toBe(0);
    expect(gone.value('berth_sessions', { status: 'idle' })).toBe(0);
    expect(gone.value('berth_sandbox_cpu_seconds_total', { driver: 'bwrap' })).toBeGreaterThanOrEqual(cpu);
    expect(gone.value('berth_sandboxes_memory_bytes', { driver: 'bwrap' })).toBe(0);

    // Logs: the request line names the request and the session; no secret reaches the log.
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const sendLine = lines.find(
      (l) => l.msg === 'request' && l.method === 'POST' && l.url === `/v1/sessions/${session.id}/events`,
    );
    expect(sendLine?.requestId).toMatch(/^req_/);
    expect(sendLine?.sessionId).toBe(session.id);
    expect(lines.some((l) => l.msg === 'sandbox ready' && l.sessionId === session.id)).toBe(true);
    expect(lines.some((l) => l.msg === 'egress denied' && l.sessionId === session.id)).toBe(true);
    expect(log).not.toContain(t.upstreamKey);
    expect(log).not.toContain(t.app.adminKey);
    expect(log).not.toMatch(/bgt_[A-Za-z0-9_-]{20,}/);

    // Tracing: flushed at shutdown. API request → session turn → model requests, with parent links.
    await t.close();
    const spans = otlp.spans;
    const request = spans.find(
      (s) => s.name === 'POST /v1/sessions/:id/events' && s.attributes['berth.session_id'] === session.id,
    );
    expect(request, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
    expect(request!.kind).toBe(2); // SERVER
    expect(request!.traceId).toBe(CLIENT_TRACE);
    expect(request!.parentSpanId).toBe(CLIENT_SPAN);
    expect(request!.attributes['berth.session_id']).toBe(session.id);
    expect(request!.service).toBe('berthd');
    const turns = spans.filter((s) => s.name === 'session.turn' && s.attributes['berth.session_id'] === session.id);
    expect(turns).toHaveLength(1);
    const turn = turns[0]!;
    expect(turn.traceId).toBe(CLIENT_TRACE);
    expect(turn.parentSpanId).toBe(request!.spanId);
    const models: ReceivedSpan[] = spans.filter(
      (s) => s.name === 'model messages' && s.attributes['berth.session_id'] === session.id,
    );
    expect(models).toHaveLength(modelCalls.length);
    for (const m of models) {
      expect(m.kind).toBe(3); // CLIENT
      expect(m.traceId).toBe(CLIENT_TRACE);
      expect(m.parentSpanId).toBe(turn.spanId);
      expect(m.attributes['http.response.status_code']).toBe(200);
    }
    const failedModels = spans.filter(
      (s) => s.name === 'model messages' && s.attributes['berth.session_id'] === overloaded,
    );
    expect(failedModels.length).toBeGreaterThanOrEqual(1);
    for (const m of failedModels) {
      expect(m.status?.code).toBe(2); // ERROR
      expect(m.attributes['http.response.status_code']).toBe(529);
    }
    const scriptedInput = models.map((m) => m.attributes['gen_ai.usage.input_tokens']);
    expect(scriptedInput).toEqual(expect.arrayContaining(USAGE.map((u) => u.input_tokens)));
  });
});
