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
  egress_audit: EgressAuditTable;
  vaults: VaultsTable;
  vault_credentials: VaultCredentialsTable;
  files: FilesTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
}

/** Owner column of the top-level resources (migration 0005_tenants); children inherit their parent's tenant. */
interface Owned {
  /** Has a default ('default') in the schema, so inserts may omit it. */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export interface TenantsTable {
  id: string;
  name: string;
  metadata: string;
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
