import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { ApiError } from '../errors.js';
import { authenticateDelivery, newWebhookSecret, signDelivery, TOLERANCE_S } from './webhook-auth.js';

const now = Date.parse('2026-05-01T12:00:00Z');
const ts = now / 1000;
const body = Buffer.from('{"subject":"hi"}');

const refusal = (f: () => unknown): string => {
  try {
    f();
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    return (err as ApiError).message;
  }
};

describe('webhook delivery authentication', () => {
  const secret = newWebhookSecret();

  it('issues Standard Webhooks secrets and signs like the specification (HMAC-SHA256 of id.timestamp.body)', () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const key = Buffer.from(secret.slice(6), 'base64');
    const mac = createHmac('sha256', key).update(`msg_1.${ts}.${body.toString()}`).digest('base64');
    expect(signDelivery(secret, 'msg_1', ts, body)).toBe(`v1,${mac}`);
  });

  it('accepts a valid signature (among several) and returns the delivery id', () => {
    const sig = signDelivery(secret, 'msg_1', ts, body);
    const h = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': `v1,bogus ${sig}` };
    expect(authenticateDelivery(h, body, secret, now)).toEqual({ deliveryId: 'msg_1' });
  });

  it('refuses a wrong signature, a changed body, a stale or future timestamp, and missing headers', () => {
    const sig = signDelivery(secret, 'msg_1', ts, body);
    const h = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': sig };
    expect(refusal(() => authenticateDelivery(h, Buffer.from('{"subject":"ho"}'), secret, now))).toMatch(
      /does not match/,
    );
    expect(refusal(() => authenticateDelivery(h, body, newWebhookSecret(), now))).toMatch(/does not match/);
    expect(refusal(() => authenticateDelivery({ ...h, 'webhook-id': 'msg_2' }, body, secret, now))).toMatch(
      /does not match/,
    );
    const late = now + (TOLERANCE_S + 1) * 1000;
    expect(refusal(() => authenticateDelivery(h, body, secret, late))).toMatch(/away from the server's clock/);
    expect(refusal(() => authenticateDelivery(h, body, secret, now - (TOLERANCE_S + 1) * 1000))).toMatch(/away from/);
    expect(refusal(() => authenticateDelivery({ 'webhook-signature': sig }, body, secret, now))).toMatch(
      /needs webhook-id/,
    );
    expect(refusal(() => authenticateDelivery({}, body, secret, now))).toMatch(/no signature and no bearer/);
  });

  it('accepts the bearer secret and refuses any other', () => {
    expect(authenticateDelivery({ authorization: `Bearer ${secret}` }, body, secret, now)).toEqual({
      deliveryId: null,
    });
    expect(refusal(() => authenticateDelivery({ authorization: `Bearer ${secret}x` }, body, secret, now))).toMatch(
      /bearer secret is wrong/,
    );
    expect(refusal(() => authenticateDelivery({ authorization: 'Bearer ' }, body, secret, now))).toMatch(/wrong/);
  });
});
