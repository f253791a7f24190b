import type { Logger } from '../logger.js';
import type { ClaimedDelivery, Store, WebhookDeliveryOutcome } from '../store/store.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { sendAttempt, type AttemptResult, type SendOptions } from './sender.js';
import type { WebhookSecrets } from './secrets.js';
import { webhookHeaders } from './signing.js';

export interface DeliveryWorkerOptions {
  /** Attempts before a delivery is marked failed. */
  maxAttempts: number;
  backoff: BackoffPolicy;
  /** Limit of one attempt, connect to response (ms). */
  timeoutMs: number;
  /** Loopback and private targets allowed (see target.ts). */
  allowPrivate: boolean;
  /** How often the queue is scanned for due deliveries (ms); new deliveries are attempted at once regardless. */
  pollMs?: number;
  /** Attempts in flight at once. */
  concurrency?: number;
  /** Delivered and failed deliveries older than this are pruned from the log (ms). */
  retentionMs?: number;
}

type Send = (url: string, headers: Record<string, string>, body: string, o: SendOptions) => Promise<AttemptResult>;

const DAY_MS = 86_400_000;
/** A claim outlives its attempt by this much, so a slow store write after the attempt cannot lose it. */
const LEASE_MARGIN_MS = 30_000;

/**
 * Works the durable delivery queue: claims due deliveries (a lease in the store, so several berthd replicas or a
 * restarted one never double-send a claimed attempt), signs and sends each, and records the outcome: delivered,
 * retried later with exponential backoff and jitter, or failed after `maxAttempts`. A berthd that dies mid-attempt
 * leaves a lease that expires; the delivery is then claimed again.
 */
export class DeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private lastPrune = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly secrets: WebhookSecrets,
    private readonly logger: Logger,
    private readonly opts: DeliveryWorkerOptions,
    private readonly now: () => number = Date.now,
    private readonly send: Send = sendAttempt,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  /** Scans the queue soon (new deliveries were queued, or an attempt finished). */
  kick(): void {
    if (this.closed) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = this.scan()
      .catch((err: unknown) => this.logger.error({ err }, 'webhook queue scan failed'))
      .finally(() => {
        this.scanning = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stops scanning, cuts attempts in flight short and releases their claims (they are retried on the next start). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.abort.abort();
    await this.scanning;
    await Promise.allSettled([...this.inFlight]);
  }

  private async scan(): Promise<void> {
    const room = (this.opts.concurrency ?? 4) - this.inFlight.size;
    const now = this.now();
    if (now - this.lastPrune > 3_600_000) {
      this.lastPrune = now;
      const before = new Date(now - (this.opts.retentionMs ?? 30 * DAY_MS)).toISOString();
      const n = await this.store.pruneWebhookDeliveries(before);
      if (n > 0) this.logger.info({ pruned: n }, 'pruned old webhook deliveries');
    }
    if (room <= 0) return;
    const until = new Date(now + this.opts.timeoutMs + LEASE_MARGIN_MS).toISOString();
    const claims = await this.store.claimWebhookDeliveries(new Date(now).toISOString(), until, room);
    for (const c of claims) {
      const p = this.attempt(c)
        .catch((err: unknown) => this.logger.error({ err, deliveryId: c.delivery.id }, 'webhook attempt failed'))
        .finally(() => {
          this.inFlight.delete(p);
          this.kick();
        });
      this.inFlight.add(p);
    }
  }

  private async attempt({ delivery: d, lease }: ClaimedDelivery): Promise<void> {
    const nowIso = () => new Date(this.now()).toISOString();
    const endpoint = await this.store.getWebhook(d.endpoint_id);
    if (!endpoint) return; // deleted meanwhile: its deliveries went with it
    let result: AttemptResult;
    try {
      const secrets = this.secrets.signingSecrets(endpoint, nowIso());
      const headers = webhookHeaders(secrets, d.id, Math.floor(this.now() / 1000), d.payload);
      result = await this.send(endpoint.url, headers, d.payload, {
        timeoutMs: this.opts.timeoutMs,
        allowPrivate: this.opts.allowPrivate,
        signal: this.abort.signal,
      });
    } catch (err) {
      // A secret that no longer opens (the vault master key changed): the attempt fails and says so.
      result = { ok: false, status: null, error: `signing failed: ${(err as Error).message}` };
    }
    if (result.aborted) {
      await this.store.settleWebhookDelivery(d.id, lease, null, nowIso());
      return;
    }
    const at = nowIso();
    const attempts = d.attempts + 1;
    const outcome: WebhookDeliveryOutcome = {
      status: result.ok ? 'delivered' : attempts >= this.opts.maxAttempts ? 'failed' : 'pending',
      attempts,
      next_attempt_at: null,
      last_attempt_at: at,
      last_status: result.status,
      last_error: result.error,
      delivered_at: result.ok ? at : null,
    };
    if (outcome.status === 'pending') {
      const delay = backoffDelayMs(attempts, this.opts.backoff);
      outcome.next_attempt_at = new Date(this.now() + delay).toISOString();
      // Retries sooner than the next poll are not left waiting for it.
      if (delay < (this.opts.pollMs ?? 1000)) setTimeout(() => this.kick(), delay + 5).unref();
    }
    const log = this.logger.child({ deliveryId: d.id, endpointId: d.endpoint_id, type: d.event_type, attempts });
    if (result.ok) log.debug({ status: result.status }, 'webhook delivered');
    else
      log.warn({ status: result.status, error: result.error, next: outcome.next_attempt_at }, 'webhook attempt failed');
    if (!(await this.store.settleWebhookDelivery(d.id, lease, outcome, at))) {
      log.info('webhook delivery was claimed again or redelivered meanwhile; this outcome is not recorded');
    }
  }
}
