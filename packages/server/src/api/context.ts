import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { BerthConfig } from '../config.js';
import type { SessionService } from '../sessions/service.js';
import type { EventLog } from '../sessions/event-log.js';
import type { VaultService } from '../vaults/service.js';
import type { EnabledDrivers } from './drivers.js';
import type { Clock } from './common.js';
import type { FileBlobs } from '../files/blobs.js';
import type { SandboxDriver } from '../drivers/driver.js';
import type { BerthMetrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { PreviewService } from '../previews/service.js';
import type { TriggerService } from '../triggers/service.js';
import type { WebhookReceiver } from '../triggers/deliver.js';
import type { WebhookSecrets } from '../webhooks/secrets.js';
import type { PriceTable } from '../budget/prices.js';
import type { TenantBudgets } from '../budget/tenant-budget.js';
import type { KeyIdentity } from '../tenants/auth.js';

/** What every route module receives from the composition root. */
export interface ApiContext {
  config: BerthConfig;
  store: Store;
  sessions: SessionService;
  eventLog: EventLog;
  /** Seals and opens vault credential secrets. */
  vaults: VaultService;
  /** The enabled sandbox drivers and what each can enforce (limits a driver cannot enforce are refused). */
  drivers: EnabledDrivers;
  /** The enabled drivers themselves by name, for host-side access to a session's sandbox (workspace files). */
  sandboxDrivers: ReadonlyMap<string, SandboxDriver>;
  /** Content of Files API uploads. */
  files: FileBlobs;
  /** Trigger management (schedules and webhooks) and the receiver of webhook deliveries. */
  triggers: TriggerService;
  triggerHooks: WebhookReceiver;
  /** Resolves a presented API key to its scope and tenant; undefined when it may not call the API. */
  authenticate: (key: string) => Promise<KeyIdentity | undefined>;
  logger: Logger;
  clock: Clock;
  /** Prices of model tokens and sandbox time (built-in list prices plus the operator's price file). */
  prices: PriceTable;
  /** Per-tenant monthly budgets (spend this month, refusals). */
  tenantBudgets: TenantBudgets;
  /** Resolves when the API is ready to serve (store migrated, driver checked). */
  ready: () => Promise<{ ok: boolean; problems: string[] }>;
  /** Metrics served at `/metrics` and the tracer of API requests (absent: neither). */
  observability?: { metrics: BerthMetrics; tracing: Tracing };
  /** Port previews (absent: previews are off). */
  previews?: PreviewService | undefined;
  /** Seals webhook signing secrets; `kick` makes the delivery worker scan its queue now (absent: no webhooks). */
  webhooks?: { secrets: WebhookSecrets; kick: () => void };
}

export type RouteModule = (app: FastifyInstance, ctx: ApiContext) => void;
