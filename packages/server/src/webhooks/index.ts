import type { BerthConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { EventLog } from '../sessions/event-log.js';
import type { Store } from '../store/store.js';
import type { VaultCipher } from '../vaults/crypto.js';
import { systemClock } from '../api/common.js';
import { WebhookFanout } from './fanout.js';
import { WebhookSecrets } from './secrets.js';
import { DeliveryWorker } from './worker.js';

/** The running webhook machinery, as the composition root holds it. */
export interface Webhooks {
  secrets: WebhookSecrets;
  /** Makes the worker scan the queue now. */
  kick(): void;
  /** Queues what the fan-out still holds, then stops the worker (attempts in flight are released, not lost). */
  close(): Promise<void>;
}

/** Wires the fan-out as the event log's tap and starts the delivery worker. */
export function startWebhooks(
  config: BerthConfig,
  store: Store,
  cipher: VaultCipher,
  eventLog: EventLog,
  logger: Logger,
): Webhooks {
  const secrets = new WebhookSecrets(cipher);
  const worker = new DeliveryWorker(store, secrets, logger, {
    maxAttempts: config.webhookMaxAttempts,
    backoff: { baseMs: config.webhookBackoffBaseMs, maxMs: config.webhookBackoffMaxMs },
    timeoutMs: config.webhookTimeoutMs,
    allowPrivate: config.webhookAllowPrivateTargets,
  });
  const fanout = new WebhookFanout(store, systemClock, logger, () => worker.kick());
  eventLog.addTap(fanout);
  worker.start();
  return {
    secrets,
    kick: () => worker.kick(),
    async close() {
      await fanout.flush();
      await worker.close();
    },
  };
}
