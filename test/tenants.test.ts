import Anthropic, { toFile } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import type { Ids } from './fuzz/bodies.js';
import { ChannelClient, HandshakeRefused } from './ws-client.js';
import { ROUTES, type Route } from './fuzz/routes.js';

/**
 * Tenants and API keys end to end: tenant B's key gets 404 for every route that names one of tenant A's resources
 * (and A's rows are missing from B's lists), read keys cannot mutate, revoked and rotated keys behave as documented,
 * and mutating calls land in the audit log.
 */

const scenarios = [{ name: 'hello', turns: [{ content: [{ type: 'text', text: 'Hello from tenant A.' }] }] }];
const PUBLIC = new Set(['/healthz', '/readyz', '/metrics']);
/** Trigger webhooks are public (signed by the trigger's secret, not an API key): tenancy does not apply to them. */
const isHook = (r: Route) => r.path.endsWith('/hook');

interface Json {
  [k: string]: unknown;
}
interface Reply {
  status: number;
  body: Json;
  headers: Headers;
}

describe.skipIf(e2eSkipReason() !== false)('tenants and API keys', () => {
  let t: TestBerth;
  let admin: Record<string, string>;
  const tenants = { a: '', b: '' };
  const keys = { aWrite: '', aRead: '', bWrite: '', bRead: '' };
  let ids: Ids;
  let bHook = '';

  /** One request; `key` is the API key, `body` JSON unless a Buffer. */
  const call = async (
    method: string,
    path: string,
    key: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> => {
    const isBuf = Buffer.isBuffer(body);
    const res = await fetch(t.app.url + path, {
      method,
      headers: {
        'x-api-key': key,
        ...(body === undefined ? {} : { 'content-type': isBuf ? 'application/octet-stream' : 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : isBuf ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Json = {};
    try {
      parsed = JSON.parse(text) as Json;
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const adminCall = (method: string, path: string, body?: unknown) =>
    call(method, path, admin['x-api-key']!, body).then((r) => {
      if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    });
  const newKey = async (scope: string, tenant_id?: string) =>
    (await adminCall('POST', '/v1/berth/admin/keys', { scope, ...(tenant_id ? { tenant_id } : {}) })) as {
      id: string;
      secret: string;
      prefix: string;
    };

  beforeAll(async () => {
    // Webhook targets on 127.0.0.2:9 (nothing listens: deliveries fail at once and stay on this host); previews on.
    t = await startTestBerth({ scenarios, config: { webhookAllowPrivateTargets: true, previewPort: 0 } });
    admin = { 'x-api-key': t.app.adminKey };
    tenants.a = ((await adminCall('POST', '/v1/berth/admin/tenants', { name: 'A' })) as { id: string }).id;
    tenants.b = ((await adminCall('POST', '/v1/berth/admin/tenants', { name: 'B' })) as { id: string }).id;
    keys.aWrite = (await newKey('write', tenants.a)).secret;
    keys.aRead = (await newKey('read', tenants.a)).secret;
    keys.bWrite = (await newKey('write', tenants.b)).secret;
    keys.bRead = (await newKey('read', tenants.b)).secret;

    // Each tenant's webhook endpoint, made before A's session so that its creation is delivered (to A's only).
    const hook = { url: 'http://127.0.0.2:9/tenants', event_types: ['session.created'] };
    const aHook = (await call('POST', '/v1/berth/webhooks', keys.aWrite, hook)).body as { id: string };
    bHook = ((await call('POST', '/v1/berth/webhooks', keys.bWrite, hook)).body as { id: string }).id;

    // Tenant A's resources, made with A's own key through the official SDK.
    const a = new Anthropic({ baseURL: t.app.url, apiKey: keys.aWrite, maxRetries: 0 });
    const { agentId, envId } = await agentAndEnv(a);
    const vault = await a.beta.vaults.create({ display_name: 'a-vault' });
    const cred = await a.beta.vaults.credentials.create(vault.id, {
      auth: { type: 'static_bearer', token: 'tok-a', mcp_server_url: 'https://mcp.example.com/sse' },
    });
    const file = await a.beta.files.upload({ file: await toFile(Buffer.from('tenant A\n'), 'a.txt') });
    const session = await a.beta.sessions.create({
      agent: agentId,
      environment_id: envId,
      vault_ids: [vault.id],
      resources: [{ type: 'file', file_id: file.id, mount_path: '/mnt/data/a.txt' }],
    });
    const events = await collectTurn(a, session.id, () => say(a, session.id, '[scenario:hello] hi'));
    expect(events.map((e) => e.type)).toContain('agent.message');
    const resource = (session.resources[0] as unknown as { id: string }).id;
    const put = await call(
      'PUT',
      `/v1/berth/sessions/${session.id}/files/content?path=x.txt`,
      keys.aWrite,
      Buffer.from('A'),
    );
    expect(put.status).toBe(200);
    const aKey = await newKey('read', tenants.a);
    const trigger = await call('POST', '/v1/berth/triggers', keys.aWrite, { kind: 'webhook', session_id: session.id });
    expect(trigger.status).toBe(200);
    let delivery: string | undefined;
    for (let i = 0; i < 100 && !delivery; i++) {
      const page = (await call('GET', `/v1/berth/webhooks/${aHook.id}/deliveries`, keys.aRead)).body as {
        data: Array<{ id: string }>;
      };
      delivery = page.data[0]?.id;
      if (!delivery) await new Promise((r) => setTimeout(r, 50));
    }
    if (!delivery) throw new Error("tenant A's webhook got no delivery");
    ids = {
      agent: agentId,
      env: envId,
      session: session.id,
      vault: vault.id,
      cred: cred.id,
      file: file.id,
      resource,
      tenant: tenants.a,
      key: aKey.id,
      webhook: aHook.id,
      delivery,
      trigger: trigger.body.id as string,
    };
  }, 120_000);
  afterAll(async () => t?.close());

  const pathFor = (r: Route) =>
    r.path.replace(/:(\w+)/g, (_m, kind: string) => encodeURIComponent(ids[kind as keyof Ids])) +
    (r.path.includes('/files') && r.path.startsWith('/v1/berth/') ? '?path=x.txt' : '');

  /** A body each route accepts, so that only the tenant check can refuse it. */
  const bodyFor = (r: Route): unknown => {
    switch (r.body) {
      case 'agent':
        return { name: 'renamed' };
      case 'env':
        return { name: 'renamed' };
      case 'sessionUpdate':
        return { title: 'renamed' };
      case 'events':
        return { events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }] };
      case 'vault':
        return { display_name: 'renamed' };
      case 'credential':
        return r.path.endsWith('/credentials')
          ? { auth: { type: 'static_bearer', token: 't', mcp_server_url: 'https://mcp2.example.com/sse' } }
          : { display_name: 'renamed' };
      case 'resource':
        return { type: 'file', file_id: ids.file, mount_path: '/mnt/data/b.txt' };
      case 'octet':
        return Buffer.from('x');
      case 'keyRotate':
        return { grace_seconds: 0 };
      case 'rotate':
        return { grace_period_s: 0 };
      case 'webhook':
        return { description: 'renamed' };
      case 'trigger':
        return { name: 'renamed' };
      case 'preview':
        return { port: 8080 };
      case 'session':
      case 'tenant':
      case 'apiKey':
      case 'multipart':
      case 'none':
        return r.method === 'POST' ? {} : undefined;
    }
  };

  it("tenant B's keys get 404 on every route naming tenant A's resources; A's own key reaches them", async () => {
    const withIds = ROUTES.filter((r) => r.path.includes(':') && !r.path.startsWith('/v1/berth/admin/') && !isHook(r));
    expect(withIds.length).toBeGreaterThan(35);
    const wrong: string[] = [];
    for (const r of withIds) {
      for (const [name, key] of [
        ['bWrite', keys.bWrite],
        ['bRead', keys.bRead],
      ] as const) {
        // A read key is refused mutations before anything is looked up (403, covered below); reads must be 404.
        if (name === 'bRead' && r.method !== 'GET') continue;
        const res = await call(r.method, pathFor(r), key, bodyFor(r));
        const type = (res.body.error as { type?: string } | undefined)?.type;
        if (res.status !== 404 || type !== 'not_found_error') {
          wrong.push(`${name} ${r.method} ${r.path}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // The control: the same GETs with A's own key find the resources, so the 404s above are not vacuous.
    const control: string[] = [];
    // (No preview exists: the route table's preview id is a stand-in that is a 404 for everyone.)
    const controlled = (x: Route) => x.method === 'GET' && !x.stream && !x.path.endsWith('/ws');
    for (const r of withIds.filter((x) => controlled(x) && !x.path.includes('/previews/'))) {
      const res = await call('GET', pathFor(r), keys.aRead);
      if (res.status === 404) control.push(`${r.path}: ${JSON.stringify(res.body).slice(0, 200)}`);
    }
    expect(control).toEqual([]);
    // Nothing B sent changed or destroyed A's resources.
    const a = new Anthropic({ baseURL: t.app.url, apiKey: keys.aRead, maxRetries: 0 });
    expect((await a.beta.agents.retrieve(ids.agent)).name).toBe('test-agent');
    expect((await a.beta.environments.retrieve(ids.env)).archived_at).toBeNull();
    const s = await a.beta.sessions.retrieve(ids.session);
    expect([s.title, s.archived_at, s.resources.length]).toEqual([null, null, 1]);
    expect((await a.beta.vaults.retrieve(ids.vault)).display_name).toBe('a-vault');
    expect((await a.beta.vaults.credentials.retrieve(ids.cred, { vault_id: ids.vault })).archived_at).toBeNull();
    expect((await a.beta.files.retrieveMetadata(ids.file)).filename).toBe('a.txt');
    expect((await call('GET', `/v1/berth/sessions/${ids.session}/files/content?path=x.txt`, keys.aRead)).status).toBe(
      200,
    );
    const evs = await a.beta.sessions.events.list(ids.session);
    expect(evs.data.filter((e) => e.type === 'user.message')).toHaveLength(1);
  }, 120_000);

  it("B's lists exclude A's resources; A's ids cannot be referenced from B's creates", async () => {
    const lists = ROUTES.filter((r) => r.method === 'GET' && !r.path.includes(':') && !PUBLIC.has(r.path));
    const leaks: string[] = [];
    for (const r of lists.filter((x) => !x.path.startsWith('/v1/berth/admin/'))) {
      const archived = r.query?.includes('include_archived') ? ['?include_archived=true&limit=1000'] : [];
      for (const q of ['', ...archived]) {
        const res = await call('GET', r.path + q, keys.bRead);
        expect(res.status, r.path).toBe(200);
        const text = JSON.stringify(res.body);
        for (const id of Object.values(ids) as string[]) if (text.includes(id)) leaks.push(`${r.path}${q} shows ${id}`);
      }
    }
    const bySession = await call('GET', `/v1/sessions?agent_id=${ids.agent}`, keys.bRead);
    expect(bySession.body.data).toEqual([]);
    const byIds = await call('GET', `/v1/files?ids[]=${ids.file}`, keys.bRead);
    expect([byIds.status, byIds.body.data]).toEqual([200, []]);
    expect(((await call('GET', `/v1/files?ids[]=${ids.file}`, keys.aRead)).body.data as unknown[]).length).toBe(1);
    expect(leaks).toEqual([]);
    // B's endpoint never heard of A's session; A's usage is A's alone.
    const bDeliveries = await call('GET', `/v1/berth/webhooks/${bHook}/deliveries`, keys.bRead);
    expect(bDeliveries.body.data).toEqual([]);
    const aUsage = await call('GET', '/v1/berth/usage?group_by=tenant', keys.aRead);
    const groups = aUsage.body.data as Array<{ key: string }>;
    expect(groups.map((g) => g.key)).toEqual([tenants.a]);
    const bUsage = await call('GET', '/v1/berth/usage?group_by=tenant', keys.bRead);
    expect(bUsage.body.data).toEqual([]);
    // A's own lists do show them.
    const mine = await call('GET', '/v1/agents', keys.aRead);
    expect(JSON.stringify(mine.body)).toContain(ids.agent);

    const b = new Anthropic({ baseURL: t.app.url, apiKey: keys.bWrite, maxRetries: 0 });
    const own = await agentAndEnv(b);
    const refused = async (body: object) => {
      const res = await call('POST', '/v1/sessions', keys.bWrite, body);
      return [res.status, (res.body.error as { type?: string } | undefined)?.type];
    };
    const notFound = [404, 'not_found_error'];
    expect(await refused({ agent: ids.agent, environment_id: own.envId })).toEqual(notFound);
    expect(await refused({ agent: own.agentId, environment_id: ids.env })).toEqual(notFound);
    expect(await refused({ agent: own.agentId, environment_id: own.envId, vault_ids: [ids.vault] })).toEqual(notFound);
    expect(
      await refused({
        agent: own.agentId,
        environment_id: own.envId,
        resources: [{ type: 'file', file_id: ids.file, mount_path: '/mnt/data/x.txt' }],
      }),
    ).toEqual(notFound);
  });

  it('tenant keys cannot use admin routes or name another tenant; admin keys pick a tenant with berth-tenant', async () => {
    for (const r of ROUTES.filter((x) => x.path.startsWith('/v1/berth/admin/'))) {
      for (const key of [keys.bWrite, keys.aRead]) {
        const res = await call(r.method, pathFor(r), key, bodyFor(r));
        expect([r.path, res.status, (res.body.error as { type: string }).type]).toEqual([
          r.path,
          403,
          'permission_error',
        ]);
      }
    }
    // /metrics aggregates all tenants: admin keys only.
    expect((await call('GET', '/metrics', keys.bWrite)).status).toBe(403);
    expect((await call('GET', '/metrics', t.app.adminKey)).status).toBe(200);
    const named = await call('GET', `/v1/agents/${ids.agent}`, keys.bWrite, undefined, { 'berth-tenant': tenants.a });
    expect(named.status).toBe(403);
    // The bootstrap admin key acts on the default tenant unless it names another.
    expect((await call('GET', `/v1/agents/${ids.agent}`, t.app.adminKey)).status).toBe(404);
    const asA = await call('GET', `/v1/agents/${ids.agent}`, t.app.adminKey, undefined, { 'berth-tenant': tenants.a });
    expect([asA.status, asA.body.id]).toEqual([200, ids.agent]);
    const unknown = await call('GET', '/v1/agents', t.app.adminKey, undefined, { 'berth-tenant': 'tenant_nope' });
    expect(unknown.status).toBe(404);
    // The default tenant's resources are the admin key's as before (backwards compatible).
    const legacy = await t.client.beta.agents.create({ name: 'default-agent', model: 'claude-sonnet-4-5' });
    expect((await t.client.beta.agents.retrieve(legacy.id)).id).toBe(legacy.id);
    expect((await call('GET', `/v1/agents/${legacy.id}`, keys.aRead)).status).toBe(404);
  });

  it('read keys cannot mutate (403); revoked keys get 401; rotation: new key works, old one per grace period', async () => {
    const denied = await call('POST', '/v1/agents', keys.aRead, { name: 'x', model: 'claude-sonnet-4-5' });
    expect([denied.status, (denied.body.error as { type: string }).type]).toEqual([403, 'permission_error']);
    for (const r of ROUTES.filter((x) => x.method !== 'GET' && !x.path.startsWith('/v1/berth/admin/') && !isHook(x))) {
      const res = await call(r.method, pathFor(r), keys.aRead, bodyFor(r));
      expect([r.method, r.path, res.status]).toEqual([r.method, r.path, 403]);
    }
    expect((await call('GET', '/v1/agents', keys.aRead)).status).toBe(200);

    const k = await newKey('write', tenants.a);
    expect(k.secret).toMatch(/^bsk_live_[A-Za-z0-9]{48}$/);
    expect(k.secret.startsWith(k.prefix)).toBe(true);
    expect((await call('GET', '/v1/agents', k.secret)).status).toBe(200);
    const listed = JSON.stringify(await adminCall('GET', `/v1/berth/admin/keys?tenant_id=${tenants.a}`));
    expect(listed).toContain(k.prefix);
    expect(listed).not.toContain(k.secret);
    await adminCall('POST', `/v1/berth/admin/keys/${k.id}/revoke`);
    const revoked = await call('GET', '/v1/agents', k.secret);
    expect([revoked.status, (revoked.body.error as { type: string }).type]).toEqual([401, 'authentication_error']);
    // A key that differs from a real one only after its prefix is refused too.
    const k2 = await newKey('write', tenants.a);
    expect(
      (await call('GET', '/v1/agents', k2.secret.slice(0, -1) + (k2.secret.endsWith('a') ? 'b' : 'a'))).status,
    ).toBe(401);

    // Rotation without grace: the old key stops at once.
    const now = (await adminCall('POST', `/v1/berth/admin/keys/${k2.id}/rotate`, {})) as {
      secret: string;
      previous: { status: string; replaced_by: string };
      id: string;
    };
    expect(now.previous).toMatchObject({ status: 'revoked', replaced_by: now.id });
    expect((await call('GET', '/v1/agents', k2.secret)).status).toBe(401);
    expect((await call('GET', '/v1/agents', now.secret)).status).toBe(200);
    // Rotation with a grace period: both work until it ends, then only the new one.
    const graced = (await adminCall('POST', `/v1/berth/admin/keys/${now.id}/rotate`, { grace_seconds: 2 })) as {
      secret: string;
      previous: { status: string; expires_at: string };
    };
    expect(graced.previous.status).toBe('active');
    expect((await call('GET', '/v1/agents', now.secret)).status).toBe(200);
    expect((await call('GET', '/v1/agents', graced.secret)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(graced.previous.expires_at) - Date.now() + 100));
    expect((await call('GET', '/v1/agents', now.secret)).status).toBe(401);
    expect((await call('GET', '/v1/agents', graced.secret)).status).toBe(200);

    // Archiving a tenant stops its keys.
    const c = ((await adminCall('POST', '/v1/berth/admin/tenants', { name: 'C' })) as { id: string }).id;
    const ck = await newKey('write', c);
    expect((await call('GET', '/v1/agents', ck.secret)).status).toBe(200);
    await adminCall('POST', `/v1/berth/admin/tenants/${c}/archive`);
    expect((await call('GET', '/v1/agents', ck.secret)).status).toBe(401);
  }, 30_000);

  it("WebSocket: B's key is refused A's session (404); a read key may subscribe but its frames are refused", async () => {
    const refused = await ChannelClient.open(t.app.url, ids.session, {
      key: keys.bWrite,
      protocols: ['berth.v1'],
    }).then(
      () => 0,
      (err: unknown) => (err instanceof HandshakeRefused ? err.status : -1),
    );
    expect(refused).toBe(404);
    const ch = await ChannelClient.open(t.app.url, ids.session, {
      key: keys.aRead,
      protocols: ['berth.v1'],
      after: 'start',
    });
    try {
      await ch.waitFor((e) => e.type === 'agent.message');
      const from = ch.frames.length;
      ch.send({ type: 'user.message', content: [{ type: 'text', text: 'from a read key' }] });
      const i = await ch.waitFor((e) => e.type === 'error', from);
      expect((ch.frames[i] as { error?: { type?: string } }).error?.type).toBe('permission_error');
      expect(ch.closed).toBeUndefined();
    } finally {
      ch.ws.close();
    }
    const a = new Anthropic({ baseURL: t.app.url, apiKey: keys.aRead, maxRetries: 0 });
    const sent = (await a.beta.sessions.events.list(ids.session)).data.filter((e) => e.type === 'user.message');
    expect(sent).toHaveLength(1);
  });

  it('writes every mutating call to the audit log, queryable by tenant and time range', async () => {
    const since = new Date().toISOString();
    const created = await call('POST', '/v1/agents', keys.aWrite, { name: 'audited', model: 'claude-sonnet-4-5' });
    expect(created.status).toBe(200);
    const updated = await call('POST', `/v1/agents/${String(created.body.id)}`, keys.aWrite, { name: 'audited-2' });
    const refused = await call('POST', `/v1/agents/${String(created.body.id)}/archive`, keys.aRead);
    await call('GET', '/v1/agents', keys.aWrite);
    const log = (await adminCall('GET', `/v1/berth/admin/audit?tenant_id=${tenants.a}&created_at[gte]=${since}`)) as {
      data: Json[];
    };
    const entries = log.data.map((e) => [e.method, e.route, e.resource_id, e.status, e.request_id]);
    expect(entries).toEqual([
      ['POST', '/v1/agents/:id/archive', created.body.id, 403, refused.headers.get('request-id')],
      ['POST', '/v1/agents/:id', created.body.id, 200, updated.headers.get('request-id')],
      ['POST', '/v1/agents', created.body.id, 200, created.headers.get('request-id')],
    ]);
    expect(log.data.every((e) => e.tenant_id === tenants.a && String(e.key_prefix).startsWith('bsk_live_'))).toBe(true);
    // Paged, newest first; another tenant's filter does not show them.
    const first = (await adminCall('GET', `/v1/berth/admin/audit?tenant_id=${tenants.a}&limit=1`)) as {
      data: Json[];
      next_page: string;
    };
    const second = (await adminCall(
      'GET',
      `/v1/berth/admin/audit?tenant_id=${tenants.a}&limit=1&page=${encodeURIComponent(first.next_page)}`,
    )) as { data: Json[] };
    expect([first.data[0]?.request_id, second.data[0]?.request_id]).toEqual([
      refused.headers.get('request-id'),
      updated.headers.get('request-id'),
    ]);
    const other = (await adminCall('GET', `/v1/berth/admin/audit?tenant_id=${tenants.b}&created_at[gte]=${since}`)) as {
      data: Json[];
    };
    expect(other.data).toEqual([]);
  });
});
