import { systemClock } from '../api/common.js';
import type { BerthConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { SessionService } from '../sessions/service.js';
import type { Store } from '../store/store.js';
import type { VaultCipher } from '../vaults/crypto.js';
import { WebhookReceiver } from './deliver.js';
import { TriggerFirer } from './fire.js';
import { RateLimiter } from './rate-limit.js';
import { TriggerScheduler } from './scheduler.js';
import { TriggerService } from './service.js';

/** Builds the trigger components for the composition root (app.ts), which starts and stops the scheduler. */
export function buildTriggers(deps: {
  store: Store;
  sessions: Pick<SessionService, 'send'>;
  cipher: VaultCipher;
  config: Pick<BerthConfig, 'triggerWebhookRatePerMinute'>;
  logger: Logger;
}): { triggers: TriggerService; triggerHooks: WebhookReceiver; scheduler: TriggerScheduler } {
  const log = deps.logger.child({ component: 'triggers' });
  const firer = new TriggerFirer(deps.store, deps.sessions, systemClock, log);
  const scheduler = new TriggerScheduler(deps.store, firer, () => Date.now(), log);
  const triggers = new TriggerService(deps.store, deps.cipher, scheduler, systemClock, log);
  const limiter = new RateLimiter(deps.config.triggerWebhookRatePerMinute);
  const triggerHooks = new WebhookReceiver(triggers, firer, limiter, systemClock);
  return { triggers, triggerHooks, scheduler };
}
