import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
import { cgroupDirsFor } from './procs.js';

/** A raw HTTP/1.1 request with an absolute-form target, which fetch cannot send. Resolves with the status line. */
function rawGet(base: string, target: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () =>
      s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString()));
    s.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
    s.on('error', reject);
  });
}

type Res = {
  status: number;
  body: {
    type?: string;
    error?: { type: string; message: string; details?: { error_code?: string } };
    request_id?: string;
  };
  requestId: string | null;
};

describe.skipIf(e2eSkipReason() !== false)('bad input gets a clear 4xx in the Anthropic shape, never a 500', () => {
  let t: TestBerth;
  let key: string;
  beforeAll(async () => {
    t = await startTestBerth({ config: { maxBodyBytes: 64 * 1024, sseHeartbeatMs: 200 } });
    key = t.app.adminKey;
  });
  afterAll(async () => t?.close());

  async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Res> {
    const res = await fetch(t.app.url + path, {
      method,
      headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Res['body']) : {},
      requestId: res.headers.get('request-id'),
    };
  }

  function expectError(r: Res, status: number, type: string) {
    expect(r.status).toBe(status);
    expect(r.body.type).toBe('error');
    expect(r.body.error?.type).toBe(type);
    expect(r.body.error?.message.length).toBeGreaterThan(10);
    expect(r.body.request_id).toMatch(/^req_/);
    expect(r.requestId).toBe(r.body.request_id);
  }

  /** A session of a fresh agent and environment (created through the official SDK); extra fields go to create. */
  async function newSession(extra: Record<string, unknown> = {}): Promise<string> {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await call('POST', '/v1/sessions', JSON.stringify({ agent: agentId, environment_id: envId, ...extra }));
    return (s.body as unknown as { id: string }).id;
  }

  async function counts() {
    const [a, e, s] = await Promise.all([
      call('GET', '/v1/agents?include_archived=true&limit=1000'),
      call('GET', '/v1/environments?include_archived=true&limit=1000'),
      call('GET', '/v1/sessions?include_archived=true&limit=1000'),
    ]);
    const n = (r: Res) => (r.body as unknown as { data: unknown[] }).data.length;
    return [n(a), n(e), n(s)];
  }

  it('rejects a missing or wrong key with 401, accepting both header styles', async () => {
    expectError(
      await call('GET', '/v1/agents', undefined, { 'x-api-key': 'nope-nope-nope' }),
      401,
      'authentication_error',
    );
    const noKey = await fetch(`${t.app.url}/v1/agents`);
    expect(noKey.status).toBe(401);
    const bearer = await fetch(`${t.app.url}/v1/agents`, { headers: { authorization: `Bearer ${key}` } });
    expect(bearer.status).toBe(200);
    // The router decodes and normalises paths; authentication must follow the route it matched, not the raw URL.
    expect((await fetch(`${t.app.url}/%761/agents`)).status).toBe(401);
    expect(await rawGet(t.app.url, `http://elsewhere/v1/agents`)).toMatch(/^HTTP\/1\.1 401/);
    expect((await fetch(`${t.app.url}/healthz`)).status).toBe(200);
  });

  it('rejects malformed bodies and stores nothing', async () => {
    const before = await counts();
    const { envId, agentId } = await (async () => {
      const a = await call('POST', '/v1/agents', JSON.stringify({ name: 'ok', model: 'claude-sonnet-4-5' }));
      const e = await call('POST', '/v1/environments', JSON.stringify({ name: 'ok' }));
      return { agentId: (a.body as unknown as { id: string }).id, envId: (e.body as unknown as { id: string }).id };
    })();
    const mid = await counts();
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ['POST', '/v1/agents', '{"name": "x", "model": ', 400, 'invalid_request_error'],
      ['POST', '/v1/agents', '[1,2]', 400, 'invalid_request_error'],
      ['POST', '/v1/agents', JSON.stringify({ name: 5, model: 'm' }), 400, 'invalid_request_error'],
      ['POST', '/v1/agents', JSON.stringify({ model: 'm' }), 400, 'invalid_request_error'],
      [
        'POST',
        '/v1/agents',
        JSON.stringify({ name: 'x', model: 'm', tools: [{ type: 'mcp_toolset', mcp_server_name: 'nope' }] }),
        400,
        'invalid_request_error',
      ],
      [
        'POST',
        '/v1/agents',
        JSON.stringify({
          name: 'x',
          model: 'm',
          metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
        }),
        400,
        'invalid_request_error',
      ],
      ['POST', '/v1/agents', JSON.stringify({ name: 'x', model: 'm', surprise: true }), 400, 'invalid_request_error'],
      ['POST', '/v1/agents', JSON.stringify({ name: 'x'.repeat(70 * 1024), model: 'm' }), 413, 'request_too_large'],
      [
        'POST',
        '/v1/environments',
        JSON.stringify({ name: 'e', config: { type: 'cloud', networking: { type: 'open' } } }),
        400,
        'invalid_request_error',
      ],
      [
        'POST',
        '/v1/environments',
        JSON.stringify({ name: 'e', config: { type: 'cloud', packages: { pip: ['x'] } } }),
        400,
        'invalid_request_error',
      ],
      [
        'POST',
        '/v1/environments',
        JSON.stringify({ name: 'e', berth: { driver: 'firecracker' } }),
        400,
        'invalid_request_error',
      ],
      ['POST', '/v1/sessions', JSON.stringify({ agent: agentId }), 400, 'invalid_request_error'],
      [
        'POST',
        '/v1/sessions',
        JSON.stringify({ agent: 'agent_01NOPE', environment_id: envId }),
        404,
        'not_found_error',
      ],
      [
        'POST',
        '/v1/sessions',
        JSON.stringify({ agent: agentId, environment_id: 'env_01NOPE' }),
        404,
        'not_found_error',
      ],
      [
        'POST',
        '/v1/sessions',
        JSON.stringify({ agent: { type: 'agent', id: agentId, version: 9 }, environment_id: envId }),
        404,
        'not_found_error',
      ],
      [
        'POST',
        '/v1/sessions',
        JSON.stringify({ agent: agentId, environment_id: envId, vault_ids: ['vlt_1'] }),
        404,
        'not_found_error',
      ],
      ['GET', '/v1/agents/agent_01NOPE', undefined, 404, 'not_found_error'],
      ['GET', '/v1/agents/not-an-id', undefined, 404, 'not_found_error'],
      ['GET', '/v1/sessions/sesn_01NOPE/events', undefined, 404, 'not_found_error'],
      [
        'POST',
        '/v1/sessions/sesn_01NOPE/events',
        JSON.stringify({ events: [{ type: 'user.message', content: [{ type: 'text', text: 'x' }] }] }),
        404,
        'not_found_error',
      ],
      ['GET', '/v1/agents?limit=0', undefined, 400, 'invalid_request_error'],
      ['GET', '/v1/agents?limit=abc', undefined, 400, 'invalid_request_error'],
      ['GET', '/v1/agents?page=garbage', undefined, 400, 'invalid_request_error'],
      ['GET', '/v1/sessions?statuses[]=sleeping', undefined, 400, 'invalid_request_error'],
      ['GET', '/v1/nothing-here', undefined, 404, 'not_found_error'],
      ['POST', '/v1/agents', '{"name": "a\\u0000b", "model": "m"}', 400, 'invalid_request_error'],
      ['GET', `/v1/agents/${agentId}?version=99999999999`, undefined, 400, 'invalid_request_error'],
      ['GET', '/v1/agents?page=eyJzIjo5OTk5OTk5OTk5OTl9', undefined, 400, 'invalid_request_error'],
      [
        'POST',
        '/v1/sessions',
        JSON.stringify({
          agent: agentId,
          environment_id: envId,
          // Minor units as an integer string: "10.5" is not an amount.
          budget: { type: 'limit', max_list_cost: { amount: '10.5', currency: 'USD' } },
        }),
        400,
        'invalid_request_error',
      ],
    ];
    for (const [method, path, body, status, type] of cases) {
      const r = await call(method, path, body);
      expect({ path, body: body?.slice(0, 80), status: r.status }).toEqual({ path, body: body?.slice(0, 80), status });
      expectError(r, status, type);
    }
    const bad415 = await fetch(`${t.app.url}/v1/agents`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(bad415.status).toBe(415);
    expect(await counts()).toEqual(mid);
    expect(mid).toEqual([before[0]! + 1, before[1]! + 1, before[2]]);
  });

  it('updates a session and records session.updated with the changed fields only', async () => {
    const id = await newSession({ title: 'old' });
    const u = await call('POST', `/v1/sessions/${id}`, JSON.stringify({ title: 'new', metadata: { k: 'v' } }));
    expect(u.body).toMatchObject({ title: 'new', metadata: { k: 'v' } });
    await call('POST', `/v1/sessions/${id}`, JSON.stringify({ title: 'new' })); // no change: no event
    const events = (await call('GET', `/v1/sessions/${id}/events?types[]=session.updated`)).body as unknown as {
      data: Array<Record<string, unknown>>;
    };
    expect(events.data).toHaveLength(1);
    expect(events.data[0]).toMatchObject({ type: 'session.updated', title: 'new', metadata: { k: 'v' } });
    expect(events.data[0]).not.toHaveProperty('budget');
    await call('DELETE', `/v1/sessions/${id}`);
  });

  it('serves the model effort in its wire form', async () => {
    const a = await call(
      'POST',
      '/v1/agents',
      JSON.stringify({ name: 'e', model: { id: 'claude-sonnet-4-5', effort: 'low' } }),
    );
    expect((a.body as unknown as { model: object }).model).toEqual({
      id: 'claude-sonnet-4-5',
      effort: { type: 'low' },
    });
  });

  it('checks agent versions with 409 and sends x-should-retry: false', async () => {
    const a = await call('POST', '/v1/agents', JSON.stringify({ name: 'v', model: 'claude-sonnet-4-5' }));
    const id = (a.body as unknown as { id: string }).id;
    const ok = await call('POST', `/v1/agents/${id}`, JSON.stringify({ version: 1, system: 'be brief' }));
    expect((ok.body as unknown as { version: number }).version).toBe(2);
    const res = await fetch(`${t.app.url}/v1/agents/${id}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, system: 'stale' }),
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(((await res.json()) as Res['body']).error?.type).toBe('conflict_error');
    const v1 = await call('GET', `/v1/agents/${id}?version=1`);
    expect((v1.body as unknown as { system: string | null }).system).toBeNull();
  });

  it('SSE: event name equals type, heartbeats arrive, and the stream closes on delete', async () => {
    const id = await newSession();
    expectError(
      await call('GET', `/v1/sessions/${id}/events/stream?event_deltas[]=tool_use`),
      400,
      'invalid_request_error',
    );
    const res = await fetch(`${t.app.url}/v1/sessions/${id}/events/stream`, { headers: { 'x-api-key': key } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
        if (done) return false;
        text += new TextDecoder().decode(value);
      }
      return true;
    };
    expect(await readUntil(': ping')).toBe(true);
    await call('DELETE', `/v1/sessions/${id}`);
    expect(await readUntil('event: session.deleted\ndata: {')).toBe(true);
    const { done } = (await reader.read()) as { done: boolean };
    expect(done).toBe(true);
    expectError(await call('GET', `/v1/sessions/${id}`), 404, 'not_found_error');
  });
});

describe.skipIf(e2eSkipReason() !== false)('shutdown', () => {
  it('closes promptly while an event stream is open', async () => {
    const t2 = await startTestBerth();
    const e = await t2.client.beta.environments.create({ name: 'x' });
    const a = await t2.client.beta.agents.create({ name: 'x', model: 'claude-sonnet-4-5' });
    const s = await t2.client.beta.sessions.create({ agent: a.id, environment_id: e.id });
    const stream = await t2.client.beta.sessions.events.stream(s.id);
    const drained = (async () => {
      try {
        for await (const _ of stream) {
          // wait for the server to end the stream
        }
      } catch {
        // a reset connection is an end too
      }
    })();
    const sandboxId = (s as unknown as { berth: { sandbox: { id: string } } }).berth.sandbox.id;
    const started = Date.now();
    await t2.close();
    await drained;
    expect(Date.now() - started).toBeLessThan(10_000);
    // The session's sandbox was still starting: closing waited for it and removed it, leaving no cgroup behind.
    expect(cgroupDirsFor(sandboxId)).toEqual([]);
  });
});
