import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { openSqlite } from '../store/open.js';
import type { Store, WebhookDeliveryRecord } from '../store/store.js';
import { VaultCipher, masterKey } from '../vaults/crypto.js';
import { WebhookSecrets } from './secrets.js';
import { newSigningSecret } from './signing.js';
import { DeliveryWorker, type DeliveryWorkerOptions } from './worker.js';

/** The delivery queue against a real SQLite store and a real HTTP receiver on 127.0.0.2. */
describe('webhook delivery worker', () => {
  let dir: string;
  let store: Store;
  let server: http.Server;
  let url: string;
  /** Answers per request, in order; the last one repeats. 0 never answers. */
  let answers: number[];
  let hits: Array<{ at: number; headers: http.IncomingHttpHeaders; body: string }>;
  const secrets = new WebhookSecrets(new VaultCipher(masterKey(randomBytes(32))));
  const workers: DeliveryWorker[] = [];
  const log = createLogger('silent');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-wh-'));
    store = openSqlite(join(dir, 'berth.db'));
    await store.migrate();
    answers = [204];
    hits = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hits.push({ at: Date.now(), headers: req.headers, body });
        const code = answers[Math.min(hits.length - 1, answers.length - 1)]!;
        if (code !== 0) res.writeHead(code).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    url = `http://127.0.0.2:${(server.address() as AddressInfo).port}/hook`;
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = (o: Partial<DeliveryWorkerOptions> = {}) => {
    const w = new DeliveryWorker(store, secrets, log, {
      maxAttempts: 5,
      backoff: { baseMs: 100, maxMs: 1000 },
      timeoutMs: 2000,
      allowPrivate: true,
      pollMs: 50,
      ...o,
    });
    workers.push(w);
    return w;
  };
  async function endpointWithDelivery(): Promise<{ secret: string; endpointId: string; d: WebhookDeliveryRecord }> {
    const now = new Date().toISOString();
    const id = newId('webhook');
    const secret = newSigningSecret();
    await store.createWebhook({
      id,
      url,
      description: null,
      event_types: null,
      enabled: true,
      metadata: {},
      secret: secrets.seal(id, secret),
      previous_secret: null,
      previous_secret_expires_at: null,
      created_at: now,
      updated_at: now,
    });
    const d: WebhookDeliveryRecord = {
      id: newId('webhookMessage'),
      endpoint_id: id,
      event_type: 'session.created',
      session_id: 'sesn_x',
      payload: JSON.stringify({ type: 'session.created', timestamp: now, data: { session_id: 'sesn_x' } }),
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      last_attempt_at: null,
      last_status: null,
      last_error: null,
      delivered_at: null,
      created_at: now,
      updated_at: now,
    };
    await store.enqueueWebhookDeliveries([d]);
    return { secret, endpointId: id, d };
  }
  async function until<T>(f: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const settled = (eid: string, id: string) => async () => {
    const d = await store.getWebhookDelivery(eid, id);
    return d && d.status !== 'pending' ? d : undefined;
  };

  it('delivers a queued message once, signed so the reference library verifies it', async () => {
    const { secret, endpointId, d } = await endpointWithDelivery();
    worker().start();
    const done = await until(settled(endpointId, d.id));
    expect(done).toMatchObject({ status: 'delivered', attempts: 1, last_status: 204, last_error: null });
    expect(done.next_attempt_at).toBeNull();
    expect(hits).toHaveLength(1);
    expect(hits[0]!.body).toBe(d.payload);
    expect(hits[0]!.headers['webhook-id']).toBe(d.id);
    const headers = hits[0]!.headers as Record<string, string>;
    expect(new Webhook(secret).verify(hits[0]!.body, headers)).toEqual(JSON.parse(d.payload));
  });

  it('retries failures with growing, jittered delays, then records the success', async () => {
    answers = [500, 502, 200];
    const { endpointId, d } = await endpointWithDelivery();
    worker().start();
    const done = await until(settled(endpointId, d.id));
    expect(done).toMatchObject({ status: 'delivered', attempts: 3, last_status: 200 });
    expect(hits.map((h) => h.headers['webhook-id'])).toEqual([d.id, d.id, d.id]);
    // Nominal delays 100 then 200 ms; jitter keeps each at least half of that.
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(50);
    expect(hits[2]!.at - hits[1]!.at).toBeGreaterThanOrEqual(100);
  });

  it('marks a delivery failed after the last attempt, with the last response', async () => {
    answers = [500];
    const { endpointId, d } = await endpointWithDelivery();
    worker({ maxAttempts: 2 }).start();
    const done = await until(settled(endpointId, d.id));
    expect(done).toMatchObject({ status: 'failed', attempts: 2, last_status: 500, last_error: 'HTTP 500' });
    expect(done.next_attempt_at).toBeNull();
    await new Promise((r) => setTimeout(r, 300));
    expect(hits).toHaveLength(2);
  });

  it('takes over a delivery whose worker died holding it, once the lease expires', async () => {
    const { endpointId, d } = await endpointWithDelivery();
    const now = Date.now();
    const dead = await store.claimWebhookDeliveries(new Date(now).toISOString(), new Date(now + 400).toISOString(), 1);
    expect(dead).toHaveLength(1);
    worker().start();
    await new Promise((r) => setTimeout(r, 200));
    expect(hits).toHaveLength(0); // still leased
    const done = await until(settled(endpointId, d.id));
    expect(done).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await store.settleWebhookDelivery(d.id, dead[0]!.lease, null, new Date().toISOString())).toBe(false);
  });

  it('on close, cuts an attempt in flight short and releases it uncounted for the next start', async () => {
    answers = [0, 204];
    const { endpointId, d } = await endpointWithDelivery();
    const w = worker();
    w.start();
    await until(async () => hits.length === 1);
    await w.close();
    const after = await store.getWebhookDelivery(endpointId, d.id);
    expect(after).toMatchObject({ status: 'pending', attempts: 0 });
    worker().start();
    const done = await until(settled(endpointId, d.id));
    expect(done).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(hits.map((h) => h.headers['webhook-id'])).toEqual([d.id, d.id]);
  });
});
