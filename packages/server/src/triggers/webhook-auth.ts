import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../errors.js';

/**
 * Authentication of webhook deliveries by the trigger's own secret (never the admin key). Two ways, checked in this
 * order:
 * - **Standard Webhooks signature** (https://www.standardwebhooks.com): headers `webhook-id`, `webhook-timestamp`
 *   (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, several
 *   space-separated). The key is the base64 part of the `whsec_…` secret. A timestamp more than
 *   `TOLERANCE_S` away from now is refused; a repeated `webhook-id` is recognised by the run log (replay protection).
 * - **Bearer secret**: `Authorization: Bearer whsec_…`, for senders that cannot sign. No replay protection: whoever
 *   sees one request can repeat it, so prefer signatures where the path is not end-to-end TLS.
 */

/** How far a signed delivery's timestamp may be from berthd's clock (the Standard Webhooks default). */
export const TOLERANCE_S = 5 * 60;
const PREFIX = 'whsec_';

/** A new secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** A delivery that passed authentication; `deliveryId` is the signed `webhook-id` (null for bearer deliveries). */
export interface Authenticated {
  deliveryId: string | null;
}

type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return typeof v === 'string' ? v : undefined;
};

/** The Standard Webhooks signature of a delivery, as `v1,<base64>`. */
export function signDelivery(secret: string, id: string, timestamp: number, body: Buffer | string): string {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/** Compares two strings in constant time (over their SHA-256, so lengths leak nothing either). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

const refuse = (why: string) =>
  new ApiError(
    'webhook_unauthorized',
    `${why} Sign the delivery with the trigger's secret (Standard Webhooks: webhook-id, webhook-timestamp, ` +
      "webhook-signature headers) or send 'Authorization: Bearer <secret>'. The secret is shown once when the " +
      'trigger is created; POST /v1/berth/triggers/{id}/rotate_secret issues a new one.',
  );

/** Checks a delivery against the trigger's secret; throws 401 `webhook_unauthorized` (saying why) otherwise. */
export function authenticateDelivery(headers: Headers, body: Buffer, secret: string, nowMs: number): Authenticated {
  const signature = header(headers, 'webhook-signature');
  if (signature !== undefined) {
    const id = header(headers, 'webhook-id');
    const ts = header(headers, 'webhook-timestamp');
    if (!id || !ts || id.length > 256)
      throw refuse('A signed delivery needs webhook-id and webhook-timestamp headers.');
    if (!/^\d{1,12}$/.test(ts)) throw refuse('webhook-timestamp must be Unix seconds.');
    const skew = Math.abs(nowMs / 1000 - Number(ts));
    if (skew > TOLERANCE_S) {
      throw refuse(
        `webhook-timestamp is ${Math.round(skew)} s away from the server's clock (at most ${TOLERANCE_S} s is accepted; a replayed or delayed delivery?).`,
      );
    }
    const expected = signDelivery(secret, id, Number(ts), body);
    const offered = signature.split(' ').filter((s) => s.startsWith('v1,'));
    if (!offered.some((s) => same(s, expected))) throw refuse('The webhook-signature does not match.');
    return { deliveryId: id };
  }
  const auth = header(headers, 'authorization');
  if (auth?.startsWith('Bearer ')) {
    if (!same(auth.slice(7).trim(), secret)) throw refuse('The bearer secret is wrong.');
    return { deliveryId: null };
  }
  throw refuse('The delivery carries no signature and no bearer secret.');
}
