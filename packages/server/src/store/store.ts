import type { SqlDialect } from './migrations.js';
import type {
  AgentBody,
  AgentRecord,
  EgressAuditRecord,
  EgressAuditUpdate,
  EgressListOptions,
  EnvironmentRecord,
  EventListOptions,
  EventRecord,
  ListOptions,
  ModelRequestRecord,
  NewEvent,
  Page,
  SessionListOptions,
  SessionRecord,
  UsageTotals,
} from './types.js';
import type { VaultCredentialRecord, VaultRecord } from './vault-types.js';
import type { FileListOptions, FileRecord } from './file-types.js';
import type { TriggerListOptions, TriggerRecord, TriggerRunListOptions, TriggerRunRecord } from './trigger-types.js';
import type {
  ClaimedDelivery,
  WebhookDeliveryListOptions,
  WebhookDeliveryOutcome,
  WebhookDeliveryRecord,
  WebhookEndpointRecord,
  WebhookListOptions,
} from './webhook-types.js';
import type { SandboxTotals, SandboxUsageRecord, UsageGroup, UsageQuery } from './ledger-types.js';
import type { ApiKeyListOptions, ApiKeyRecord, AuditListOptions, AuditRecord, TenantRecord } from './tenant-types.js';

export type * from './types.js';
export type * from './vault-types.js';
export type * from './file-types.js';
export type * from './trigger-types.js';
export type * from './webhook-types.js';
export type * from './ledger-types.js';
export type * from './tenant-types.js';
export { DEFAULT_TENANT, DuplicateKeyPrefixError } from './tenant-types.js';
export { VersionConflictError, BadCursorError } from './types.js';
export { DuplicateCredentialError } from './vault-types.js';
export { DuplicateDeliveryError } from './trigger-types.js';
export { WebhookDeliveryInFlightError } from './webhook-types.js';

/**
 * Everything berthd persists. `kysely-store.ts` implements it for SQLite and PostgreSQL; `conformance.ts` is the
 * suite both must pass. Methods are atomic: each runs in one transaction where it writes more than one row.
 */
export interface Store {
  readonly dialect: SqlDialect;
  /** Brings the schema up to date. Idempotent. */
  migrate(): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;

  createAgent(agent: AgentRecord): Promise<void>;
  /** The latest version, or the given one. */
  getAgent(id: string, version?: number): Promise<AgentRecord | undefined>;
  listAgents(opts: ListOptions): Promise<Page<AgentRecord>>;
  /** All versions of one agent, newest first. */
  listAgentVersions(id: string, opts: ListOptions): Promise<Page<AgentRecord>>;
  /**
   * Writes a new version computed from the current one. Throws VersionConflictError when `expectedVersion` is
   * given and differs from the current version. `next` returning null means "nothing changed": no new version.
   */
  updateAgent(
    id: string,
    expectedVersion: number | undefined,
    next: (current: AgentRecord) => AgentBody | null,
    now: string,
  ): Promise<AgentRecord | undefined>;
  archiveAgent(id: string, now: string): Promise<AgentRecord | undefined>;

  createEnvironment(env: EnvironmentRecord): Promise<void>;
  getEnvironment(id: string): Promise<EnvironmentRecord | undefined>;
  listEnvironments(opts: ListOptions): Promise<Page<EnvironmentRecord>>;
  /** Replaces the stored environment (id must exist). */
  putEnvironment(env: EnvironmentRecord): Promise<void>;
  deleteEnvironment(id: string): Promise<boolean>;
  /** Number of sessions of an environment that are not archived. */
  countLiveSessions(environmentId: string): Promise<number>;

  createSession(session: SessionRecord): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  findSessionByGatewayToken(tokenHash: string): Promise<SessionRecord | undefined>;
  listSessions(opts: SessionListOptions): Promise<Page<SessionRecord>>;
  /** Updates the given fields (plus updated_at) and returns the new record. */
  updateSession(
    id: string,
    patch: Partial<Omit<SessionRecord, 'id' | 'created_at' | 'runner_acked_seq'>>,
  ): Promise<SessionRecord | undefined>;
  /** Deletes the session with its events and ledger rows. */
  deleteSession(id: string): Promise<boolean>;

  /**
   * Appends events in order, assigning each the session's next seq. When `runnerSeq` is given the events came from
   * the runner frame with that seq: a seq at or below the last one persisted is a re-send and is dropped (returns
   * []), otherwise `runner_acked_seq` moves to it in the same transaction.
   */
  appendEvents(sessionId: string, events: NewEvent[], runnerSeq?: number): Promise<EventRecord[]>;
  listEvents(sessionId: string, opts: EventListOptions): Promise<Page<EventRecord>>;

  /** Records one model request in the ledger; a message id already recorded is ignored and returns false. */
  recordModelRequest(rec: ModelRequestRecord): Promise<boolean>;
  /** Records one interval of a sandbox's life (the sandbox meter writes these). */
  recordSandboxUsage(rec: SandboxUsageRecord): Promise<void>;
  /** Token usage of a session (its ledger outlives it: a deleted session's usage stays). */
  sessionUsage(sessionId: string): Promise<UsageTotals>;
  /** Usage of several sessions in one query (sessions without requests get zeros). */
  sessionUsages(sessionIds: string[]): Promise<Map<string, UsageTotals>>;
  /** Sandbox time of several sessions in one query (zeros for sessions without intervals). */
  sandboxUsages(sessionIds: string[]): Promise<Map<string, SandboxTotals>>;
  /** Ledger sums grouped by session, agent, environment, tenant or day, in a time range, one page of groups. */
  usageGroups(q: UsageQuery): Promise<Page<UsageGroup>>;

  /** Records one egress decision (written when it is made, so a crash mid-connection still leaves it). */
  recordEgress(rec: EgressAuditRecord): Promise<void>;
  /** Completes an egress record when its connection ends. */
  updateEgress(id: string, patch: EgressAuditUpdate): Promise<void>;
  /** A session's egress records in the order they were made. */
  listEgress(sessionId: string, opts: EgressListOptions): Promise<Page<EgressAuditRecord>>;

  createVault(vault: VaultRecord): Promise<void>;
  getVault(id: string): Promise<VaultRecord | undefined>;
  /** Newest first; archived vaults only with `includeArchived`. */
  listVaults(opts: ListOptions): Promise<Page<VaultRecord>>;
  /** Replaces the stored vault (id must exist). */
  putVault(vault: VaultRecord): Promise<void>;
  /** Archives the vault and every active credential in it (purging their sealed secrets), in one transaction. */
  archiveVault(id: string, now: string): Promise<VaultRecord | undefined>;
  /** Deletes the vault with all its credentials. */
  deleteVault(id: string): Promise<boolean>;

  /** Throws DuplicateCredentialError when an active credential of the vault has the same `match_key`. */
  createCredential(credential: VaultCredentialRecord): Promise<void>;
  /** The credential, only if it belongs to `vaultId`. */
  getCredential(vaultId: string, id: string): Promise<VaultCredentialRecord | undefined>;
  /** Newest first; archived credentials only with `includeArchived`. */
  listCredentials(vaultId: string, opts: ListOptions): Promise<Page<VaultCredentialRecord>>;
  /** Every active credential of a vault, oldest first. */
  activeCredentials(vaultId: string): Promise<VaultCredentialRecord[]>;
  /** Replaces the stored credential (id and vault must match). */
  putCredential(credential: VaultCredentialRecord): Promise<void>;
  /** Archives the credential and purges its sealed secret; the public fields stay. */
  archiveCredential(vaultId: string, id: string, now: string): Promise<VaultCredentialRecord | undefined>;
  deleteCredential(vaultId: string, id: string): Promise<boolean>;

  /** Metadata of a Files API upload (its content is a blob the caller wrote first). */
  createFile(file: FileRecord): Promise<void>;
  getFile(id: string): Promise<FileRecord | undefined>;
  /** Newest first; `ids` restricts the listing to those files. */
  listFiles(opts: FileListOptions): Promise<Page<FileRecord>>;
  deleteFile(id: string): Promise<boolean>;

  /** Webhook endpoints (webhooks/); the signing secrets arrive sealed. */
  createWebhook(endpoint: WebhookEndpointRecord): Promise<void>;
  getWebhook(id: string): Promise<WebhookEndpointRecord | undefined>;
  /** Newest first. */
  listWebhooks(opts: WebhookListOptions): Promise<Page<WebhookEndpointRecord>>;
  /** Every enabled endpoint, oldest first (the fan-out's targets). */
  enabledWebhooks(): Promise<WebhookEndpointRecord[]>;
  /** Replaces the stored endpoint (id must exist). */
  putWebhook(endpoint: WebhookEndpointRecord): Promise<void>;
  /** Deletes the endpoint with its deliveries. */
  deleteWebhook(id: string): Promise<boolean>;

  /** The durable delivery queue (also the delivery log). */
  enqueueWebhookDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void>;
  /**
   * Claims up to `limit` pending deliveries due at `now`, of enabled endpoints, until `leaseUntil`. A delivery is
   * held by one claim at a time; an expired claim (its worker died) can be claimed again.
   */
  claimWebhookDeliveries(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt's outcome (null: only release the claim). False when `lease` no longer holds it. */
  settleWebhookDelivery(
    id: string,
    lease: string,
    outcome: WebhookDeliveryOutcome | null,
    now: string,
  ): Promise<boolean>;
  getWebhookDelivery(endpointId: string, id: string): Promise<WebhookDeliveryRecord | undefined>;
  /** Newest first, optionally one status only. */
  listWebhookDeliveries(endpointId: string, opts: WebhookDeliveryListOptions): Promise<Page<WebhookDeliveryRecord>>;
  /** Due now with attempts reset; throws WebhookDeliveryInFlightError while claimed. */
  redeliverWebhookDelivery(endpointId: string, id: string, now: string): Promise<WebhookDeliveryRecord | undefined>;
  /** Deletes delivered and failed deliveries last updated before `before`. */
  pruneWebhookDeliveries(before: string): Promise<number>;

  createTrigger(trigger: TriggerRecord): Promise<void>;
  getTrigger(id: string): Promise<TriggerRecord | undefined>;
  /** Newest first; `sessionId` restricts the listing to one session's triggers. */
  listTriggers(opts: TriggerListOptions): Promise<Page<TriggerRecord>>;
  /** Replaces the stored trigger (id must exist). */
  putTrigger(trigger: TriggerRecord): Promise<void>;
  /** Deletes the trigger with its run log. */
  deleteTrigger(id: string): Promise<boolean>;
  /** The earliest `next_run_at` of the enabled triggers (the scheduler's one timer aims at it). */
  nextTriggerRunAt(): Promise<string | undefined>;
  /** Enabled triggers whose `next_run_at` is at or before `now`, earliest first. */
  dueTriggers(now: string): Promise<TriggerRecord[]>;
  /**
   * Moves an enabled trigger's `next_run_at` on, only if it still is `expectedNextRunAt` (compare-and-set): of
   * several berthd replicas, only the one that gets true fires that run.
   */
  advanceTrigger(
    id: string,
    expectedNextRunAt: string,
    patch: { next_run_at: string | null; last_run_at: string },
  ): Promise<boolean>;
  /**
   * Appends a run to the trigger's log and prunes it to the newest `keep` runs. Throws DuplicateDeliveryError when
   * the trigger already has a run with the same `delivery_id`.
   */
  recordTriggerRun(run: TriggerRunRecord, keep: number): Promise<void>;
  /** Sets the outcome of a recorded run (a `pending` one once its message was posted or refused). */
  finishTriggerRun(id: string, patch: Pick<TriggerRunRecord, 'outcome' | 'reason' | 'event_id'>): Promise<void>;
  /** A trigger's runs, newest first. */
  listTriggerRuns(triggerId: string, opts: TriggerRunListOptions): Promise<Page<TriggerRunRecord>>;
  // Tenants, keys and the audit log (tenant-types.ts). Admin-only: the tenant-scoped store refuses them.
  createTenant(tenant: TenantRecord): Promise<void>;
  getTenant(id: string): Promise<TenantRecord | undefined>;
  /** Newest first; archived tenants only with `includeArchived`. */
  listTenants(opts: ListOptions): Promise<Page<TenantRecord>>;
  archiveTenant(id: string, now: string): Promise<TenantRecord | undefined>;
  /** Changes a tenant's name, metadata or budget (given fields only). */
  updateTenant(
    id: string,
    patch: Partial<Pick<TenantRecord, 'name' | 'metadata' | 'budget'>> & { updated_at: string },
  ): Promise<TenantRecord | undefined>;
  /** Throws DuplicateKeyPrefixError when the prefix is taken. */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** The key with this visible prefix (how a presented key is found before its hash is compared). */
  findApiKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined>;
  /** Newest first; revoked and expired keys only with `includeInactive`. */
  listApiKeys(opts: ApiKeyListOptions): Promise<Page<ApiKeyRecord>>;
  updateApiKey(
    id: string,
    patch: Partial<Pick<ApiKeyRecord, 'expires_at' | 'revoked_at' | 'replaced_by'>>,
  ): Promise<ApiKeyRecord | undefined>;
  recordAudit(rec: AuditRecord): Promise<void>;
  /** Newest first. */
  listAudit(opts: AuditListOptions): Promise<Page<AuditRecord>>;
  /** The owning tenant of each existing session among `ids` (one query; what tenant-scoped usage lookups use). */
  sessionTenants(ids: string[]): Promise<Map<string, string>>;
}
