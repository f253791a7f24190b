import { PassThrough } from 'node:stream';
import { toFile } from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, e2eSkipReason, startTestBerth, type TestBerth } from '../harness.js';
import type { Ids } from './bodies.js';
import { parseRouteTree, problemWith } from './checks.js';
import { closeRawPool, sendRaw, type RawResponse } from './raw-http.js';
import { anyRequestArb } from './requests.js';
import { ROUTES, routeKey } from './routes.js';

/**
 * The API fuzzer: FUZZ_RUNS (default 10,000) fast-check-generated malformed or hostile requests across every route
 * of one real berthd, CONCURRENCY at a time. Every answer must be < 500 and every 4xx must be an Anthropic error
 * with a message; afterwards the server must still work and its log must hold no "this is a bug" line.
 * Reproduce a failure with FUZZ_SEED=<the logged seed>.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);
const CONCURRENCY = 8;
const CHUNK = 500;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_BODY = 64 * 1024;

describe.skipIf(e2eSkipReason() !== false)('API fuzzer', () => {
  let t: TestBerth;
  let ids: Ids;
  const log: string[] = [];

  beforeAll(async () => {
    const logStream = new PassThrough();
    logStream.on('data', (c: Buffer) => {
      log.push(c.toString('utf8'));
      if (process.env.FUZZ_ECHO_LOG) process.stderr.write(c);
    });
    t = await startTestBerth({
      config: { maxBodyBytes: MAX_BODY, webhookAllowPrivateTargets: true, previewPort: 0 },
      logStream,
    });
    const { agentId, envId } = await agentAndEnv(t.client);
    // Nothing listens on 127.0.0.2:9: deliveries fail at once and stay on this host.
    const webhook: { id: string } = await t.client.post('/v1/berth/webhooks', {
      body: { url: 'http://127.0.0.2:9/fuzz', event_types: ['session.created'] },
    });
    const file = await t.client.beta.files.upload({ file: await toFile(Buffer.from('fuzz\n'), 'fuzz.txt') });
    const vault = await t.client.beta.vaults.create({ display_name: 'fuzz' });
    const cred = await t.client.beta.vaults.credentials.create(vault.id, {
      auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/mcp', token: 'fuzz-token' },
    });
    // The one valid session create of the run (the generators never name the real agent in a session create).
    const session = await t.client.beta.sessions.create({
      agent: agentId,
      environment_id: envId,
      resources: [{ type: 'file', file_id: file.id, mount_path: '/mnt/session/uploads/fuzz.txt' }],
    });
    const resources = await t.client.beta.sessions.resources.list(session.id);
    const resource = (resources.data[0] as { id?: string } | undefined)?.id;
    if (!resource) throw new Error('the session has no resource to fuzz');
    const delivery = await eventuallyDelivery(t, webhook.id);
    // The agent the generators name: its model has no list price, so a session create with a budget is always
    // refused (model_not_budgetable) after every other check ran, and starts no sandbox.
    const unpriced = await t.client.beta.agents.create({
      name: 'fuzz',
      model: 'fuzz-unpriced-model',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    // A webhook trigger: its hook refuses every generated delivery (no secret), so it never starts a turn.
    const trigger = await fetch(`${t.app.url}/v1/berth/triggers`, {
      method: 'POST',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'webhook', session_id: session.id }),
    });
    const triggerId = ((await trigger.json()) as { id?: string }).id;
    if (!triggerId) throw new Error('could not create the trigger to fuzz');
    // Admin routes: a tenant and a key of it to name in paths.
    const admin = { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' };
    const post = async (path: string, body: object) =>
      (await (
        await fetch(t.app.url + path, { method: 'POST', headers: admin, body: JSON.stringify(body) })
      ).json()) as {
        id: string;
      };
    const tenant = await post('/v1/berth/admin/tenants', { name: 'fuzz' });
    const key = await post('/v1/berth/admin/keys', { scope: 'read', tenant_id: tenant.id });
    ids = {
      tenant: tenant.id,
      key: key.id,
      agent: unpriced.id,
      trigger: triggerId,
      env: envId,
      session: session.id,
      vault: vault.id,
      cred: cred.id,
      file: file.id,
      resource,
      webhook: webhook.id,
      delivery,
    };
  }, 120_000);
  afterAll(async () => {
    closeRawPool();
    await t?.close();
  });

  it('the route table covers every route berthd registers', () => {
    const registered = new Set(
      parseRouteTree(t.app.http.printRoutes({ commonPrefix: false })).map((r) =>
        routeKey(...(r.split(' ') as [string, string])),
      ),
    );
    const table = new Set(ROUTES.map((r) => routeKey(r.method, r.path)));
    expect(registered.size).toBeGreaterThan(40);
    expect([...registered].filter((r) => !table.has(r))).toEqual([]);
    expect([...table].filter((r) => !registered.has(r))).toEqual([]);
  });

  // Regressions: each of these answered 5xx, or left in fastify's own error shape, before the fix named.
  describe('bugs the fuzzer found', () => {
    const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      sendRaw(
        t.app.url,
        {
          method,
          path,
          headers: { 'x-api-key': t.app.adminKey, ...headers },
          body: body === undefined ? undefined : Buffer.from(body),
        },
        10_000,
      );
    const expectShape = (res: RawResponse, status: number, code: string) => {
      expect(res.status).toBe(status);
      const b = JSON.parse(res.body) as { type: string; error: { message: string; details: { error_code: string } } };
      expect(b.type).toBe('error');
      expect(b.error.details.error_code).toBe(code);
      expect(b.error.message.length).toBeGreaterThan(20);
    };

    it('an unreadable multipart upload is a 400, not a 500 (files.ts uploadError)', async () => {
      expectShape(
        await send('POST', '/v1/files', { 'content-type': 'multipart/form-data' }, 'x'),
        400,
        'invalid_request',
      );
      const truncated = '--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc';
      const res = await send('POST', '/v1/files', { 'content-type': 'multipart/form-data; boundary=b' }, truncated);
      expectShape(res, 400, 'invalid_request');
      expect(res.body).toContain('multipart');
    });

    it('a path segment over maxParamLength is a 404 in the Anthropic shape (framework-errors.ts)', async () => {
      expectShape(await send('GET', `/v1/files/file_${'a'.repeat(300)}`), 404, 'not_found');
      expectShape(await send('GET', `/v1/vaults/${'v'.repeat(300)}/credentials`), 404, 'not_found');
    });

    it('a request node cannot parse gets an Anthropic-shaped 400 (framework-errors.ts clientErrorHandler)', async () => {
      const res = await send('GET', '/v1/agents', { 'content-length': '5', 'transfer-encoding': 'chunked' });
      expectShape(res, 400, 'invalid_request');
    });

    it('an empty workspace file downloads as 200 with no bytes, not a 500 (workspace-files.ts)', async () => {
      const path = `/v1/berth/sessions/${ids.session}/files/content?path=empty.txt`;
      const octet = { 'content-type': 'application/octet-stream' };
      let put = await send('PUT', path, octet, '');
      // The sandbox may still be starting: the route answers a retryable 409 until its workspace exists.
      for (let i = 0; put.status === 409 && i < 60; i++) {
        await new Promise((r) => setTimeout(r, 500));
        put = await send('PUT', path, octet, '');
      }
      expect(put.status).toBe(200);
      const get = await send('GET', path);
      expect(get.status).toBe(200);
      expect(get.body).toBe('');
    });

    it('a resource type that is an object or an Object.prototype name is a 400, not a 500 (session-resources)', async () => {
      const path = `/v1/sessions/${ids.session}/resources`;
      const json = { 'content-type': 'application/json' };
      expectShape(await send('POST', path, json, '{"type":{"toString":1}}'), 400, 'invalid_request');
      expectShape(await send('POST', path, json, '{"type":["a",{"toString":1}]}'), 400, 'invalid_request');
      expectShape(await send('POST', path, json, '{"type":"constructor"}'), 400, 'unsupported_feature');
      expectShape(await send('POST', path, json, '{"type":"__proto__"}'), 400, 'unsupported_feature');
    });

    it('concurrent readiness probes do not collide on the probe cgroup (cgroups types.ts probeGroupName)', async () => {
      const all = await Promise.all(Array.from({ length: 16 }, () => send('GET', '/readyz')));
      expect(all.map((r) => r.status)).toEqual(all.map(() => 200));
    });
  });

  it(`${RUNS} hostile requests: no 5xx, no hang, errors in the Anthropic shape`, async () => {
    console.log(`API fuzzer: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} concurrency ${CONCURRENCY}`);
    const started = Date.now();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const routesHit = new Set<string>();
    let sent = 0;
    let resets = 0;
    const slow: [number, string][] = [];
    const byRoute = new Map<string, Record<number, number>>();
    const arb = anyRequestArb(ids);
    for (let chunk = 0; sent < RUNS; chunk++) {
      const batch = fc.sample(arb, { seed: SEED + chunk, numRuns: Math.min(CHUNK, RUNS - sent) });
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const req = batch[next++]!;
          sent++;
          routesHit.add(req.route);
          const t0 = Date.now();
          try {
            const res = await sendRaw(t.app.url, req, REQUEST_TIMEOUT_MS);
            slow.push([Date.now() - t0, `${req.method} ${req.path.slice(0, 120)} -> ${res.status}`]);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const perRoute = byRoute.get(req.route) ?? {};
            perRoute[res.status] = (perRoute[res.status] ?? 0) + 1;
            byRoute.set(req.route, perRoute);
            const p = problemWith(req, res);
            if (p) failures.push(`${req.method} ${req.path.slice(0, 300)} [${req.route}]: ${p}`);
          } catch (err) {
            const code = (err as { code?: string }).code;
            // A body over the limit may be answered 413 and the socket closed before we finished writing it.
            if ((code === 'ECONNRESET' || code === 'EPIPE') && (req.body?.length ?? 0) > MAX_BODY) resets++;
            else failures.push(`${req.method} ${req.path.slice(0, 300)} [${req.route}]: ${String(err)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    }
    const ms = Date.now() - started;
    console.log(
      `API fuzzer: ${sent} requests in ${ms} ms (seed ${SEED}); ${resets} resets on oversized bodies; statuses ` +
        JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0]))),
    );
    if (process.env.FUZZ_VERBOSE) for (const [r, c] of byRoute) console.log(r, JSON.stringify(c));
    slow.sort((a, b) => b[0] - a[0]);
    console.log(`slowest: ${JSON.stringify(slow.slice(0, 5))}`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    expect([...routesHit].length).toBe(ROUTES.length);
  }, 600_000);

  it('afterwards the server answers normally and logged no bug', async () => {
    const health = await fetch(`${t.app.url}/healthz`);
    expect(health.status).toBe(200);
    const agent = await t.client.beta.agents.create({ name: 'after-fuzz', model: 'claude-sonnet-4-5' });
    expect((await t.client.beta.agents.retrieve(agent.id)).name).toBe('after-fuzz');
    expect((await t.client.beta.sessions.retrieve(ids.session)).id).toBe(ids.session);
    // The generators never create a valid session (each would start a sandbox): only the one made in beforeAll exists.
    const sessions = await t.client.beta.sessions.list({ limit: 100 });
    expect(sessions.data.map((s) => s.id)).toEqual([ids.session]);
    const bugs = log
      .join('')
      .split('\n')
      .filter((l) => l.includes('this is a bug'));
    expect(bugs.slice(0, 5)).toEqual([]);
  });
});

/** The id of the endpoint's first delivery (the session create queues it just after the session is stored). */
async function eventuallyDelivery(t: TestBerth, webhookId: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const page: { data: Array<{ id: string }> } = await t.client.get(`/v1/berth/webhooks/${webhookId}/deliveries`);
    if (page.data[0]) return page.data[0].id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the fuzz webhook got no delivery');
}
