import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, startBerth, type BerthApp } from '@berth/server';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './cli-run.js';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { eventually, startWebhookReceiver, type Received, type WebhookReceiver } from './webhook-receiver.js';

/**
 * Outbound webhooks end to end: a real berthd and session (scripted model), receivers on 127.0.0.2 that verify every
 * delivery with the independent `standardwebhooks` package, retries with backoff, the delivery log, redelivery,
 * secret rotation, a berthd restart with a delivery in flight, and the CLI.
 */
const USAGE = {
  input_tokens: 100_000,
  output_tokens: 1_000,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};
const step = {
  content: [{ type: 'tool_use', name: 'Bash', input: { command: 'true', description: 's' } }],
  usage: USAGE,
};

type Endpoint = { id: string; secret?: string; url: string; event_types: string[] | null; enabled: boolean };
type Delivery = {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  payload?: { type: string; data: Record<string, unknown> };
};
type Payload = { type: string; timestamp: string; data: Record<string, unknown> & { event?: { id: string } } };

describe.skipIf(e2eSkipReason() !== false)('outbound webhooks', () => {
  let t: TestBerth;
  let all: WebhookReceiver;
  let flaky: WebhookReceiver;
  let down: WebhookReceiver;
  let restarted: BerthApp | undefined;
  beforeAll(async () => {
    [all, flaky, down] = await Promise.all([
      startWebhookReceiver(),
      startWebhookReceiver({ first: [500] }),
      startWebhookReceiver({ status: 500 }),
    ]);
    t = await startTestBerth({
      scenarios: [
        { name: 'wh-fail', turns: [{ error: { status: 400, type: 'invalid_request_error', message: 'scripted' } }] },
        { name: 'wh-spend', turns: [step, step, { content: [{ type: 'text', text: 'Done.' }], usage: USAGE }] },
      ],
      config: {
        webhookAllowPrivateTargets: true,
        webhookMaxAttempts: 3,
        webhookBackoffBaseMs: 300,
        webhookBackoffMaxMs: 2000,
        webhookTimeoutMs: 3000,
      },
    });
  });
  afterAll(async () => {
    await restarted?.close();
    await t?.close();
    await Promise.all([all, flaky, down].map((r) => r?.close()));
  });

  const create = (c: Anthropic, body: object) => c.post('/v1/berth/webhooks', { body }) as Promise<Endpoint>;
  const deliveries = async (c: Anthropic, id: string) =>
    ((await c.get(`/v1/berth/webhooks/${id}/deliveries`, { query: { limit: 100 } })) as { data: Delivery[] }).data;
  const verify = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers) as Payload;
  const types = (r: WebhookReceiver) => r.received.map((x) => (JSON.parse(x.body) as Payload).type);

  let a: Endpoint;
  let b: Endpoint;
  let c: Endpoint;
  let sessionId: string;
  let ids: { agentId: string; envId: string };
  let errorEventId: string;
  let errorSessionId: string;

  it('validates endpoints, keeps the secret write-once, and delivers a session lifecycle signed', async () => {
    const bad = await create(t.client, { url: 'ftp://127.0.0.2/x' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({
      status: 400,
      error: { error: { details: { error_code: 'webhook_target_forbidden' } } },
    });
    const badType = await create(t.client, { url: all.url, event_types: ['session.nope'] }).catch((e: unknown) => e);
    expect(badType).toMatchObject({ status: 400 });
    await expect(t.client.get('/v1/berth/webhooks/whk_01NOPE')).rejects.toMatchObject({ status: 404 });

    a = await create(t.client, { url: all.url, description: 'everything' });
    b = await create(t.client, { url: flaky.url, event_types: ['session.created', 'session.status_idle'] });
    c = await create(t.client, { url: down.url, event_types: ['session.deleted'] });
    expect(a.secret).toMatch(/^whsec_/);
    const got = (await t.client.get(`/v1/berth/webhooks/${a.id}`)) as Endpoint;
    expect(got).toMatchObject({ id: a.id, url: all.url, event_types: null, enabled: true });
    expect(got.secret).toBeUndefined();
    const listed = (await t.client.get('/v1/berth/webhooks')) as { data: Endpoint[] };
    expect(listed.data.map((w) => w.id)).toEqual([c.id, b.id, a.id]);
    expect(JSON.stringify(listed)).not.toContain('whsec_');

    // Two sessions: one fails (session.error), one spends its budget (budget_reached) and is archived.
    ids = await agentAndEnv(t.client);
    const e = await t.client.beta.sessions.create({ agent: ids.agentId, environment_id: ids.envId });
    const failed = await collectTurn(t.client, e.id, () => say(t.client, e.id, '[scenario:wh-fail] go'));
    errorEventId = failed.find((x) => x.type === 'session.error')!.id;
    await t.client.beta.sessions.delete(e.id);
    errorSessionId = e.id;
    const s = await t.client.beta.sessions.create({
      agent: ids.agentId,
      environment_id: ids.envId,
      budget: { type: 'limit', max_list_cost: { amount: '40', currency: 'USD' } },
    });
    sessionId = s.id;
    const spent = await collectTurn(t.client, s.id, () => say(t.client, s.id, '[scenario:wh-spend] go'));
    expect(spent.at(-1)).toMatchObject({ stop_reason: { type: 'budget_reached' } });
    await t.client.beta.sessions.archive(s.id);
    await t.client.beta.sessions.delete(s.id);

    const want = ['session.created', 'session.status_running', 'session.status_idle', 'session.error'];
    want.push('session.budget_reached', 'session.archived', 'session.deleted');
    const deletes = () => types(all).filter((x) => x === 'session.deleted').length;
    await eventually(() => want.every((w) => types(all).includes(w)) && deletes() === 2);
    for (const r of all.received) {
      const p = verify(a.secret!, r);
      expect(p.data).toMatchObject({ agent_id: ids.agentId, environment_id: ids.envId });
      expect([sessionId, errorSessionId]).toContain(p.data.session_id);
      expect(Date.parse(p.timestamp)).not.toBeNaN();
    }
    const byType = (type: string) => all.received.map((r) => verify(a.secret!, r)).filter((p) => p.type === type);
    expect(byType('session.error')).toHaveLength(1);
    expect(byType('session.error')[0]!.data).toMatchObject({
      session_id: errorSessionId,
      event: { id: errorEventId, type: 'session.error' },
    });
    expect(byType('session.budget_reached')).toHaveLength(1);
    expect(byType('session.budget_reached')[0]!.data.session_id).toBe(sessionId);
    expect(byType('session.budget_reached')[0]!.data.event).toMatchObject({
      type: 'session.status_idle',
      stop_reason: { type: 'budget_reached' },
    });
    expect(byType('session.created')[0]!.data).toMatchObject({ status: 'idle', archived_at: null });
    expect(byType('session.archived')[0]!.data.archived_at).toEqual(expect.any(String));
    expect(byType('session.archived').map((p) => p.data.session_id)).toEqual([sessionId]);
    expect(
      byType('session.deleted')
        .map((p) => p.data.session_id)
        .sort(),
    ).toEqual([sessionId, errorSessionId].sort());
    expect(types(all).filter((x) => x === 'session.status_idle')).toHaveLength(2);

    // The log: every message delivered on the first attempt, its id the webhook-id the receiver saw.
    // The receiver records a request before berthd has read the answer: wait until every attempt is settled.
    const log = await eventually(async () => {
      const l = await deliveries(t.client, a.id);
      return l.every((d) => d.status === 'delivered') && l;
    });
    expect(log).toHaveLength(all.received.length);
    expect(new Set(log.map((d) => d.id))).toEqual(new Set(all.received.map((r) => r.headers['webhook-id'])));
    for (const d of log)
      expect(d).toMatchObject({ status: 'delivered', attempts: 1, last_status: 204, next_attempt_at: null });
  });

  it('rejects tampered deliveries (body, signature, another secret)', () => {
    const r = all.received[0]!;
    expect(() => new Webhook(a.secret!).verify(r.body.replace('sesn_', 'sesn_X'), r.headers)).toThrow();
    const sig = r.headers['webhook-signature']!;
    const flipped = { ...r.headers, 'webhook-signature': sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + '=' };
    expect(() => new Webhook(a.secret!).verify(r.body, flipped)).toThrow();
    expect(() => new Webhook(b.secret!).verify(r.body, r.headers)).toThrow();
  });

  it('retries a failing receiver with backoff and filters by event type', async () => {
    // created and idle of both sessions, plus the one failed attempt (the receiver answers its first request 500).
    await eventually(() => flaky.received.length >= 5);
    await new Promise((r) => setTimeout(r, 500));
    expect(types(flaky).sort()).toEqual([
      'session.created',
      'session.created',
      'session.created',
      'session.status_idle',
      'session.status_idle',
    ]);
    const firstId = flaky.received[0]!.headers['webhook-id'];
    const [first, second] = flaky.received.filter((r) => r.headers['webhook-id'] === firstId);
    expect(second).toBeDefined();
    expect(verify(b.secret!, first!)).toEqual(verify(b.secret!, second!));
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(150); // base 300 ms, jitter keeps at least half
    const log = await eventually(async () => {
      const l = await deliveries(t.client, b.id);
      return l.every((d) => d.status === 'delivered') && l;
    });
    expect(log).toHaveLength(4);
    expect(log.find((d) => d.id === firstId)).toMatchObject({
      status: 'delivered',
      attempts: 2,
      last_status: 204,
      last_error: null,
    });
    expect(log.filter((d) => d.attempts === 1 && d.status === 'delivered')).toHaveLength(3);
  });

  it('fails after the last attempt, shows it in the log and the CLI, and redelivers on request', async () => {
    const failedLog = await eventually(async () => {
      const log = await deliveries(t.client, c.id);
      return log.length === 2 && log.every((d) => d.status === 'failed') && log;
    });
    const failed = failedLog[0]!;
    expect(failed).toMatchObject({
      event_type: 'session.deleted',
      attempts: 3,
      last_status: 500,
      last_error: 'HTTP 500',
      next_attempt_at: null,
    });
    expect(down.received).toHaveLength(6);
    const one = (await t.client.get(`/v1/berth/webhooks/${c.id}/deliveries/${failed.id}`)) as Delivery;
    expect(one.payload).toMatchObject({ type: 'session.deleted', data: { session_id: expect.any(String) as unknown } });

    const conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
    const cli = (args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 30_000 });
    const shown = await cli(['webhooks', 'deliveries', c.id, '--status', 'failed', ...conn]);
    expect(shown.stdout).toMatch(new RegExp(`${failed.id}\\s+session\\.deleted\\s+failed\\s+3 att\\s+HTTP 500`));
    const made = await cli(['webhooks', 'create', 'http://127.0.0.2:9/x', '--event', 'session.error', ...conn]);
    expect(made.stdout).toMatch(/^whk_\w+ {2}enabled +http:\/\/127\.0\.0\.2:9\/x {2}\(session\.error\)/);
    expect(made.stdout).toMatch(/signing secret \(shown once; store it now\): whsec_/);
    expect((await cli(['webhooks', 'list', ...conn])).stdout.trim().split('\n')).toHaveLength(4);

    down.status = 204;
    await t.client.post(`/v1/berth/webhooks/${c.id}/deliveries/${failed.id}/redeliver`);
    const redone = await eventually(async () =>
      (await deliveries(t.client, c.id)).find((d) => d.id === failed.id && d.status === 'delivered'),
    );
    expect(redone).toMatchObject({ attempts: 1, last_status: 204 });
    expect(verify(c.secret!, down.received.at(-1)!).type).toBe('session.deleted');
  });

  it('signs with both secrets after a rotation, and finishes an interrupted attempt after a restart', async () => {
    const rotated = (await t.client.post(`/v1/berth/webhooks/${a.id}/rotate_secret`, { body: {} })) as Endpoint;
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(a.secret);
    const graceEnds = Date.parse(
      (rotated as unknown as { previous_secret_expires_at: string }).previous_secret_expires_at,
    );
    expect(graceEnds - Date.now()).toBeGreaterThan(86_000_000);
    const hang = await startWebhookReceiver({ status: 0 });
    try {
      await t.client.post(`/v1/berth/webhooks/${a.id}`, { body: { url: hang.url } });
      const msg = (await deliveries(t.client, a.id)).find((d) => d.event_type === 'session.created')!;
      await t.client.post(`/v1/berth/webhooks/${a.id}/deliveries/${msg.id}/redeliver`);
      await eventually(() => hang.received.length === 1);
      // berthd stops while the receiver holds the attempt open: the attempt is released, not lost or counted.
      await t.app.close();
      hang.status = 204;
      restarted = await startBerth(t.app.config, { logger: createLogger('warn') });
      await eventually(() => hang.received.length === 2);
      const client = new Anthropic({ baseURL: restarted.url, apiKey: t.app.adminKey, maxRetries: 0 });
      const done = await eventually(async () =>
        (await deliveries(client, a.id)).find((d) => d.id === msg.id && d.status === 'delivered'),
      );
      expect(done).toMatchObject({ attempts: 1, last_status: 204 });
      expect(hang.received.map((r) => r.headers['webhook-id'])).toEqual([msg.id, msg.id]);
      for (const secret of [a.secret!, rotated.secret!]) {
        expect(verify(secret, hang.received[1]!).type).toBe('session.created');
      }
    } finally {
      await hang.close();
    }
  });
});

describe.skipIf(e2eSkipReason() !== false)('webhook endpoints on a default berthd (private targets refused)', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth();
  });
  afterAll(async () => t?.close());

  it('refuses loopback, private and metadata targets, and manages endpoints', async () => {
    for (const url of [
      t.app.url, // berthd itself
      'http://127.0.0.2:9/x',
      'http://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]/',
      'http://localhost:1/',
    ]) {
      const err = await t.client.post('/v1/berth/webhooks', { body: { url } }).catch((e: unknown) => e);
      expect(err, url).toMatchObject({
        status: 400,
        error: { error: { type: 'invalid_request_error', details: { error_code: 'webhook_target_forbidden' } } },
      });
    }
    const w = (await t.client.post('/v1/berth/webhooks', {
      body: { url: 'https://hooks.example.com/berth', enabled: false, metadata: { team: 'ops' } },
    })) as Endpoint;
    const moved = await t.client
      .post(`/v1/berth/webhooks/${w.id}`, { body: { url: 'http://192.168.1.1/' } })
      .catch((e: unknown) => e);
    expect(moved).toMatchObject({ status: 400 });
    const updated = (await t.client.post(`/v1/berth/webhooks/${w.id}`, {
      body: { event_types: ['session.error', 'session.error'], description: 'errors', metadata: { team: null } },
    })) as Endpoint & { metadata: object; description: string };
    expect(updated).toMatchObject({
      event_types: ['session.error'],
      enabled: false,
      description: 'errors',
      metadata: {},
      url: 'https://hooks.example.com/berth',
    });
    const none = (await t.client.get(`/v1/berth/webhooks/${w.id}/deliveries`)) as { data: unknown[] };
    expect(none.data).toEqual([]);
    await expect(t.client.get(`/v1/berth/webhooks/${w.id}/deliveries/whmsg_01NOPE`)).rejects.toMatchObject({
      status: 404,
    });
    expect(await t.client.delete(`/v1/berth/webhooks/${w.id}`)).toEqual({ id: w.id, type: 'webhook_deleted' });
    await expect(t.client.get(`/v1/berth/webhooks/${w.id}`)).rejects.toMatchObject({ status: 404 });
  });
});
