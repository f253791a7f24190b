import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import {
  WebhookDeliveryInFlightError,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from './webhook-types.js';

/** A sealed secret as the store keeps it (the store never opens one). */
export const SEALED = { key_id: 'k1', nonce: 'bm9uY2U=', ciphertext: 'Y3Q=', tag: 'dGFn' };

/** A webhook endpoint record of the `default` tenant, with `over` applied (also used by the tenant cases). */
export function endpointFixture(now: string, over: Partial<WebhookEndpointRecord> = {}): WebhookEndpointRecord {
  return {
    id: newId('webhook'),
    url: 'https://hooks.example.com/a',
    tenant_id: 'default',
    description: null,
    event_types: null,
    enabled: true,
    metadata: {},
    secret: SEALED,
    previous_secret: null,
    previous_secret_expires_at: null,
    created_at: now,
    updated_at: now,
    ...over,
  };
}

/** The webhook cases of the store conformance suite (endpoints and the delivery queue); called inside its describe. */
export function webhookConformance(ctx: { store: () => Store; now: () => string }): void {
  const sealed = SEALED;
  const endpoint = endpointFixture;
  const delivery = (endpointId: string, due: string, type = 'session.created'): WebhookDeliveryRecord => ({
    id: newId('webhookMessage'),
    endpoint_id: endpointId,
    event_type: type,
    session_id: 'sesn_x',
    payload: JSON.stringify({ type, timestamp: due, data: { session_id: 'sesn_x' } }),
    status: 'pending',
    attempts: 0,
    next_attempt_at: due,
    last_attempt_at: null,
    last_status: null,
    last_error: null,
    delivered_at: null,
    created_at: due,
    updated_at: due,
  });

  it('stores webhook endpoints faithfully, pages them newest first, and lists the enabled ones', async () => {
    const store = ctx.store();
    const a = endpoint(ctx.now(), { event_types: ['session.created', 'session.error'], metadata: { team: 'x' } });
    const b = endpoint(ctx.now(), { enabled: false, description: 'off' });
    const c = endpoint(ctx.now(), {
      previous_secret: { ...sealed, key_id: 'k0' },
      previous_secret_expires_at: ctx.now(),
    });
    for (const w of [a, b, c]) await store.createWebhook(w);
    expect(await store.getWebhook(a.id)).toEqual(a);
    expect(await store.getWebhook(c.id)).toEqual(c);
    const p1 = await store.listWebhooks({ limit: 2 });
    expect(p1.data.map((w) => w.id)).toEqual([c.id, b.id]);
    const p2 = await store.listWebhooks({ limit: 2, page: p1.next! });
    expect(p2.data.map((w) => w.id)).toEqual([a.id]);
    expect((await store.enabledWebhooks()).map((w) => w.id)).toEqual([a.id, c.id]);
    const a2 = { ...a, url: 'https://other.example.com/', event_types: null, updated_at: ctx.now() };
    await store.putWebhook(a2);
    expect(await store.getWebhook(a.id)).toEqual(a2);
  });

  it('claims due deliveries once each, by lease, and only the lease holder settles them', async () => {
    const store = ctx.store();
    const on = endpoint(ctx.now());
    const off = endpoint(ctx.now(), { enabled: false });
    await store.createWebhook(on);
    await store.createWebhook(off);
    const t0 = ctx.now();
    const due1 = delivery(on.id, t0);
    const due2 = delivery(on.id, t0, 'session.error');
    const later = delivery(on.id, '2099-01-01T00:00:00.000Z');
    const disabled = delivery(off.id, t0);
    await store.enqueueWebhookDeliveries([due1, due2, later, disabled]);
    const now = ctx.now();
    const lease = ctx.now();
    const claimed = await store.claimWebhookDeliveries(now, lease, 10);
    expect(claimed.map((c) => c.delivery.id).sort()).toEqual([due1.id, due2.id].sort());
    expect(claimed[0]!.delivery).toEqual(claimed[0]!.delivery.id === due1.id ? due1 : due2);
    // Held: a second claim before the lease ends gets nothing; concurrent claims never share a delivery.
    expect(await store.claimWebhookDeliveries(now, lease, 10)).toEqual([]);
    const c1 = claimed.find((c) => c.delivery.id === due1.id)!;
    const outcome = {
      status: 'pending' as const,
      attempts: 1,
      next_attempt_at: '2099-01-01T00:00:00.000Z',
      last_attempt_at: now,
      last_status: 500,
      last_error: 'HTTP 500',
      delivered_at: null,
    };
    expect(await store.settleWebhookDelivery(due1.id, 'not-the-lease', outcome, now)).toBe(false);
    expect(await store.settleWebhookDelivery(due1.id, c1.lease, outcome, now)).toBe(true);
    expect(await store.getWebhookDelivery(on.id, due1.id)).toEqual({ ...due1, ...outcome, updated_at: now });
    expect(await store.settleWebhookDelivery(due1.id, c1.lease, outcome, now)).toBe(false); // the lease is gone
    // An expired lease (its worker died) is claimed again, by a new lease.
    const afterLease = ctx.now();
    const again = await store.claimWebhookDeliveries(afterLease, ctx.now(), 10);
    expect(again.map((c) => c.delivery.id)).toEqual([due2.id]);
    const stale = claimed.find((c) => c.delivery.id === due2.id)!;
    expect(again[0]!.lease).not.toBe(stale.lease);
    expect(await store.settleWebhookDelivery(due2.id, stale.lease, null, afterLease)).toBe(false);
    expect(await store.settleWebhookDelivery(due2.id, again[0]!.lease, null, afterLease)).toBe(true);
    expect(await store.getWebhookDelivery(off.id, due2.id)).toBeUndefined(); // scoped to its endpoint
  });

  it('lists an endpoint log newest first by status, redelivers unless in flight, prunes and cascades', async () => {
    const store = ctx.store();
    const w = endpoint(ctx.now());
    await store.createWebhook(w);
    const ds = [delivery(w.id, ctx.now()), delivery(w.id, ctx.now()), delivery(w.id, ctx.now())];
    await store.enqueueWebhookDeliveries(ds);
    const now = ctx.now();
    const [c] = await store.claimWebhookDeliveries(now, ctx.now(), 1);
    expect(c!.delivery.id).toBe(ds[0]!.id);
    await expect(store.redeliverWebhookDelivery(w.id, ds[0]!.id, now)).rejects.toBeInstanceOf(
      WebhookDeliveryInFlightError,
    );
    const failed = { status: 'failed' as const, attempts: 3, next_attempt_at: null, last_attempt_at: now };
    await store.settleWebhookDelivery(
      ds[0]!.id,
      c!.lease,
      { ...failed, last_status: null, last_error: 'x', delivered_at: null },
      now,
    );
    const p1 = await store.listWebhookDeliveries(w.id, { limit: 2 });
    expect(p1.data.map((d) => d.id)).toEqual([ds[2]!.id, ds[1]!.id]);
    const p2 = await store.listWebhookDeliveries(w.id, { limit: 2, page: p1.next! });
    expect(p2.data.map((d) => d.id)).toEqual([ds[0]!.id]);
    expect(p2.next).toBeNull();
    expect((await store.listWebhookDeliveries(w.id, { limit: 9, status: 'failed' })).data.map((d) => d.id)).toEqual([
      ds[0]!.id,
    ]);
    const when = ctx.now();
    const re = await store.redeliverWebhookDelivery(w.id, ds[0]!.id, when);
    expect(re).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: when, last_error: 'x' });
    expect(await store.redeliverWebhookDelivery(w.id, 'whmsg_missing', when)).toBeUndefined();
    // Prune takes finished deliveries only.
    const [c2] = await store.claimWebhookDeliveries(ctx.now(), ctx.now(), 1);
    const done = ctx.now();
    await store.settleWebhookDelivery(
      c2!.delivery.id,
      c2!.lease,
      { ...failed, status: 'delivered', last_status: 200, last_error: null, delivered_at: done },
      done,
    );
    expect(await store.pruneWebhookDeliveries(ctx.now())).toBe(1);
    expect((await store.listWebhookDeliveries(w.id, { limit: 9 })).data).toHaveLength(2);
    expect(await store.deleteWebhook(w.id)).toBe(true);
    expect(await store.getWebhook(w.id)).toBeUndefined();
    expect(await store.getWebhookDelivery(w.id, ds[2]!.id)).toBeUndefined();
    expect(await store.deleteWebhook(w.id)).toBe(false);
  });
}
