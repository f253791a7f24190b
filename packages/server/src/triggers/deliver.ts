import { ApiError } from '../errors.js';
import type { Clock } from '../api/common.js';
import { DuplicateDeliveryError, type TriggerRunRecord } from '../store/store.js';
import type { TriggerFirer } from './fire.js';
import { readPayload, webhookText } from './message.js';
import type { RateLimiter } from './rate-limit.js';
import type { TriggerService } from './service.js';
import { authenticateDelivery } from './webhook-auth.js';

/** What a delivery came to: a run, or a repeat of a delivery already received (nothing sent again). */
export type DeliveryResult = { run: TriggerRunRecord } | { duplicate: string };

/** The media types a delivery may have; the body reaches the agent as text either way. */
export const PAYLOAD_TYPES = ['application/json', 'text/plain'] as const;

/**
 * Receives one webhook delivery: authenticates it by the trigger's secret, refuses paused triggers and senders over
 * the rate limit, reads the payload, and fires (the payload wrapped as untrusted input). Failures to post are
 * recorded in the run log and answered 409 with the reason.
 */
export class WebhookReceiver {
  constructor(
    private readonly triggers: TriggerService,
    private readonly firer: Pick<TriggerFirer, 'fire'>,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
  ) {}

  async deliver(
    id: string,
    headers: Record<string, string | string[] | undefined>,
    contentType: string,
    body: Buffer,
  ): Promise<DeliveryResult> {
    const t = await this.triggers.load(id);
    if (t.kind !== 'webhook') {
      throw new ApiError(
        'not_found',
        `Trigger '${id}' is a schedule trigger and has no webhook. Create a webhook trigger.`,
      );
    }
    let secret: string | undefined;
    try {
      secret = this.triggers.secretOf(t);
    } catch {
      throw new ApiError(
        'trigger_fire_failed',
        `The secret of trigger '${id}' cannot be opened with this server's vault master key; rotate it (POST /v1/berth/triggers/${id}/rotate_secret).`,
      );
    }
    const now = Date.parse(this.clock());
    const auth = authenticateDelivery(headers, body, secret ?? '', now);
    if (!t.enabled) {
      throw new ApiError(
        'trigger_disabled',
        `Trigger '${id}' is paused. Resume it with {"enabled": true} (POST /v1/berth/triggers/${id}).`,
      );
    }
    const wait = this.limiter.take(id, now);
    if (wait > 0) {
      throw new ApiError(
        'trigger_rate_limited',
        `Trigger '${id}' received more deliveries than its rate limit (--trigger-webhook-rate-per-minute). Retry after ${wait} s.`,
        {},
        true,
        wait,
      );
    }
    const payload = readPayload(contentType, body);
    if (!payload)
      throw new ApiError(
        'invalid_json',
        'The payload is not valid JSON. Send JSON with content-type application/json, or text/plain.',
      );
    try {
      const run = await this.firer.fire(t, {
        source: 'webhook',
        text: webhookText(t, payload, new Date(now).toISOString()),
        deliveryId: auth.deliveryId,
        skipIfBusy: false,
      });
      if (run.outcome === 'failed') {
        throw new ApiError(
          'trigger_fire_failed',
          `The delivery was received but not posted: ${run.reason} Run '${run.id}' records it.`,
          {
            run_id: run.id,
          },
        );
      }
      return { run };
    } catch (err) {
      if (err instanceof DuplicateDeliveryError) return { duplicate: err.message };
      throw err;
    }
  }
}
