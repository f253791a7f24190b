import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { newSigningSecret, secretKey, sign, webhookHeaders } from './signing.js';

/** Our signatures checked by the independent reference implementation (the `standardwebhooks` package). */
describe('Standard Webhooks signing', () => {
  const body = JSON.stringify({ type: 'session.created', timestamp: '2026-01-01T00:00:00.000Z', data: { a: 'ü' } });

  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = newSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretKey(a)).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(a);
  });

  it('signs exactly as the reference library does, and its verify accepts our headers', () => {
    const secret = newSigningSecret();
    const ts = Math.floor(Date.now() / 1000);
    expect(sign(secret, 'whmsg_1', ts, body)).toBe(new Webhook(secret).sign('whmsg_1', new Date(ts * 1000), body));
    const headers = webhookHeaders([secret], 'whmsg_1', ts, body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('is rejected by the reference verify when body, id, timestamp, signature or secret differ', () => {
    const secret = newSigningSecret();
    const ts = Math.floor(Date.now() / 1000);
    const h = webhookHeaders([secret], 'whmsg_1', ts, body);
    const wh = new Webhook(secret);
    expect(() => wh.verify(body.replace('ü', 'u'), h)).toThrow();
    expect(() => wh.verify(body, { ...h, 'webhook-id': 'whmsg_2' })).toThrow();
    expect(() => wh.verify(body, { ...h, 'webhook-timestamp': String(ts - 1) })).toThrow();
    const sig = h['webhook-signature'];
    const flipped = sig.slice(0, 5) + (sig[5] === 'A' ? 'B' : 'A') + sig.slice(6);
    expect(() => wh.verify(body, { ...h, 'webhook-signature': flipped })).toThrow();
    expect(() => new Webhook(newSigningSecret()).verify(body, h)).toThrow();
    // A stale timestamp (replay) is refused by the receiver's tolerance even with a valid signature.
    const old = webhookHeaders([secret], 'whmsg_1', ts - 3600, body);
    expect(() => wh.verify(body, old)).toThrow();
  });

  it('signs with every secret during a rotation, so receivers holding either verify', () => {
    const oldS = newSigningSecret();
    const newS = newSigningSecret();
    const ts = Math.floor(Date.now() / 1000);
    const h = webhookHeaders([newS, oldS], 'whmsg_9', ts, body);
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(oldS).verify(body, h)).toEqual(JSON.parse(body));
    expect(new Webhook(newS).verify(body, h)).toEqual(JSON.parse(body));
  });
});
