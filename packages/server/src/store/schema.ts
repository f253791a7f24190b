import type { ColumnType, Generated } from 'kysely';

/**
 * Table types for Kysely. JSON columns are TEXT on both SQLite and PostgreSQL, and timestamps are ISO-8601 strings
 * with milliseconds (fixed width, so they sort as text): one code path serves both dialects.
 */
export interface Database {
  agents: AgentsTable;
  agent_versions: AgentVersionsTable;
  environments: EnvironmentsTable;
  sessions: SessionsTable;
  events: EventsTable;
  model_requests: ModelRequestsTable;
  sandbox_usage: SandboxUsageTable;
  egress_audit: EgressAuditTable;
  vaults: VaultsTable;
  vault_credentials: VaultCredentialsTable;
  files: FilesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  triggers: TriggersTable;
  trigger_runs: TriggerRunsTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
}

/** Owner column of the top-level resources (migration 0008_tenants); children inherit their parent's tenant. */
interface Owned {
  /** Has a default ('default') in the schema, so inserts may omit it. */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export interface TenantsTable {
  id: string;
  name: string;
  metadata: string;
  /** JSON TenantBudget, or null. */
  budget: string | null;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string | null;
  scope: string;
  name: string | null;
  prefix: string;
  hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  replaced_by: string | null;
}

export interface AuditLogTable {
  id: string;
  tenant_id: string | null;
  key_prefix: string | null;
  method: string;
  route: string;
  resource_id: string | null;
  status: number;
  request_id: string;
  created_at: string;
  ord: Generated<number>;
}

export interface AgentsTable extends Owned {
  id: string;
  version: number;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface AgentVersionsTable {
  agent_id: string;
  version: number;
  /** JSON of the versioned definition (name, model, system, tools, …). */
  body: string;
  created_at: string;
}

export interface EnvironmentsTable extends Owned {
  id: string;
  name: string;
  description: string | null;
  config: string;
  metadata: string;
  scope: string | null;
  berth: string;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface SessionsTable extends Owned {
  id: string;
  environment_id: string;
  agent_id: string;
  agent_version: number;
  /** JSON snapshot of the agent the session runs. */
  agent: string;
  title: string | null;
  metadata: string;
  resources: string;
  vault_ids: string;
  budget: string | null;
  status: string;
  berth: string;
  stats: string;
  /** Observed sandbox state (desired state lives in `berth`). */
  sandbox_id: string | null;
  sandbox_state: string;
  gateway_token_hash: string;
  sdk_session_id: string;
  /** Last per-session event seq assigned (events.seq). */
  event_seq: number;
  /** Highest runner frame seq persisted: the runner re-sends everything above it after a reconnect. */
  runner_acked_seq: number;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface EventsTable {
  id: string;
  session_id: string;
  seq: number;
  type: string;
  processed_at: string;
  /** JSON of the full event as served (includes id, type, processed_at). */
  body: string;
}

export interface ModelRequestsTable {
  id: string;
  session_id: string;
  agent_id: string;
  environment_id: string;
  tenant_id: string;
  message_id: string | null;
  model: string | null;
  status: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  latency_ms: number;
  created_at: string;
  /** Monotonic row order for stable listings. */
  ord: Generated<number>;
}

/** One interval of a sandbox's life (ledger-types.ts `SandboxUsageRecord`). */
export interface SandboxUsageTable {
  id: string;
  session_id: string;
  agent_id: string;
  environment_id: string;
  tenant_id: string;
  driver: string;
  started_at: string;
  ended_at: string;
  seconds: number;
  active_seconds: number;
  memory_gib_seconds: number;
  vcpus: number;
  vcpu_seconds: number;
  ord: Generated<number>;
}

export interface EgressAuditTable {
  id: string;
  session_id: string;
  method: string;
  host: string;
  port: number;
  decision: string;
  rule: string;
  reason: string | null;
  address: string | null;
  status: number | null;
  /** bigint: PostgreSQL returns it as a string, so rows are converted on read. */
  bytes_up: number | string;
  bytes_down: number | string;
  duration_ms: number | null;
  created_at: string;
  ord: Generated<number>;
}

export interface VaultsTable extends Owned {
  id: string;
  display_name: string;
  metadata: string;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

/** A credential: public fields in clear, the secret fields as one AES-256-GCM sealed JSON (null once archived). */
export interface VaultCredentialsTable {
  id: string;
  vault_id: string;
  display_name: string | null;
  metadata: string;
  /** JSON of the public part of `auth`. */
  auth: string;
  match_key: string;
  secret_key_id: string | null;
  secret_nonce: string | null;
  secret_ciphertext: string | null;
  secret_tag: string | null;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

/** A Files API upload's metadata; its content is a blob under `<dataDir>/files/` (see files/blobs.ts). */
export interface FilesTable extends Owned {
  id: string;
  filename: string;
  mime_type: string;
  /** bigint: PostgreSQL returns it as a string, so rows are converted on read. */
  size_bytes: number | string;
  /** Hex SHA-256 of the content, checked when the blob is read back. */
  sha256: string;
  /** 1 when the content may be downloaded (uploads are), 0 otherwise. */
  downloadable: number;
  created_at: string;
}

/** A webhook endpoint; `secret` and `previous_secret` are JSON of sealed secrets (never plaintext). */
export interface WebhookEndpointsTable extends Owned {
  id: string;
  url: string;
  description: string | null;
  /** JSON array of event types, or null for all. */
  event_types: string | null;
  enabled: number;
  metadata: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** The durable delivery queue and log: one row per message per endpoint. */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_type: string;
  session_id: string | null;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  lease: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
  ord: Generated<number>;
}

/** A trigger (see store/trigger-types.ts); the webhook secret is AES-256-GCM sealed like a vault credential's. */
export interface TriggersTable extends Owned {
  id: string;
  kind: string;
  session_id: string;
  name: string | null;
  prompt: string;
  /** 1 enabled, 0 paused. */
  enabled: number;
  cron: string | null;
  timezone: string | null;
  secret_key_id: string | null;
  secret_nonce: string | null;
  secret_ciphertext: string | null;
  secret_tag: string | null;
  next_run_at: string | null;
  last_run_at: string | null;
  metadata: string;
  created_at: string;
  updated_at: string;
}

/** One fire of a trigger; `(trigger_id, delivery_id)` is unique, which refuses a replayed signed delivery. */
export interface TriggerRunsTable {
  ord: Generated<number>;
  id: string;
  trigger_id: string;
  source: string;
  scheduled_for: string | null;
  fired_at: string;
  outcome: string;
  reason: string | null;
  event_id: string | null;
  delivery_id: string | null;
}
