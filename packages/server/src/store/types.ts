/**
 * Records the store keeps, in the shapes the API serves (JSON columns parsed). The store knows nothing about HTTP;
 * the API layer validates input before it gets here.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** The versioned part of an agent: everything `agents.update` can change. */
export interface AgentBody {
  name: string;
  description: string | null;
  system: string | null;
  model: JsonObject;
  tools: Json[];
  mcp_servers: Json[];
  skills: Json[];
  metadata: Record<string, string>;
  multiagent: Json;
  execution_identity: JsonObject;
}

export interface AgentRecord extends AgentBody {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  id: string;
  version: number;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface EnvironmentRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  id: string;
  name: string;
  description: string | null;
  config: JsonObject;
  metadata: Record<string, string>;
  scope: string | null;
  berth: JsonObject;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export type SessionStatus = 'idle' | 'running' | 'rescheduling' | 'terminated';

export interface SessionRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  id: string;
  environment_id: string;
  agent_id: string;
  agent_version: number;
  agent: JsonObject;
  title: string | null;
  metadata: Record<string, string>;
  resources: Json[];
  vault_ids: string[];
  budget: JsonObject | null;
  status: SessionStatus;
  berth: JsonObject;
  stats: JsonObject;
  sandbox_id: string | null;
  sandbox_state: string;
  gateway_token_hash: string;
  sdk_session_id: string;
  runner_acked_seq: number;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

/** A persisted event: the served JSON plus its position in the session. */
export interface EventRecord {
  id: string;
  session_id: string;
  seq: number;
  type: string;
  processed_at: string;
  body: JsonObject;
}

/** An event about to be persisted (the store assigns `seq`). `body` must contain `id`, `type` and `processed_at`. */
export interface NewEvent {
  id: string;
  type: string;
  processed_at: string;
  body: JsonObject;
}

/** One model request of the usage ledger (a row the gateway writes per Messages API reply). */
export interface ModelRequestRecord {
  id: string;
  session_id: string;
  /** The session's agent and environment, copied so the ledger outlives the session and groups without joins. */
  agent_id: string;
  environment_id: string;
  /** The tenant the session belongs to (`default` until tenants exist). */
  tenant_id: string;
  /** Unique across the ledger: a reply seen twice (a retried or re-sent request) is counted once. */
  message_id: string | null;
  model: string | null;
  status: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  latency_ms: number;
  created_at: string;
}

/** One egress proxy decision (and, once the connection ends, its byte counts). */
export interface EgressAuditRecord {
  id: string;
  session_id: string;
  /** `CONNECT` for tunnels, else the plain HTTP method. */
  method: string;
  host: string;
  port: number;
  decision: 'allowed' | 'denied';
  /** What decided: e.g. `allowed_hosts entry '*.example.com'`, `default deny`. */
  rule: string;
  /** Why a request was denied or failed upstream; null when allowed and completed. */
  reason: string | null;
  /** The address connected to, once resolved. */
  address: string | null;
  /** HTTP status: the proxy's own (403, 502) or, for plain HTTP, the upstream's. */
  status: number | null;
  bytes_up: number;
  bytes_down: number;
  duration_ms: number | null;
  created_at: string;
}

/** What changes when an audited connection ends. */
export type EgressAuditUpdate = Partial<
  Pick<EgressAuditRecord, 'reason' | 'address' | 'status' | 'bytes_up' | 'bytes_down' | 'duration_ms'>
>;

export interface EgressListOptions {
  limit: number;
  page?: string | undefined;
  decision?: 'allowed' | 'denied' | undefined;
}

export interface UsageTotals {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  requests: number;
  /** The same sums per model (what list prices apply to); `model` is null for requests that named none. */
  by_model: ModelUsageTotals[];
}

export interface ModelUsageTotals {
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  requests: number;
}

/** A keyset page: `next` is an opaque cursor or null on the last page. */
export interface Page<T> {
  data: T[];
  next: string | null;
  prev: string | null;
}

export interface ListOptions {
  limit: number;
  /** Opaque cursor from a previous page. */
  page?: string | undefined;
  includeArchived?: boolean;
  createdAt?: RangeFilter;
  /** Only this tenant's rows (the tenant-scoped store always sets it). */
  tenant?: string | undefined;
}

export interface RangeFilter {
  gt?: string | undefined;
  gte?: string | undefined;
  lt?: string | undefined;
  lte?: string | undefined;
}

export interface SessionListOptions extends ListOptions {
  order: 'asc' | 'desc';
  statuses?: SessionStatus[] | undefined;
  agentId?: string | undefined;
  agentVersion?: number | undefined;
}

export interface EventListOptions {
  limit: number;
  page?: string | undefined;
  order: 'asc' | 'desc';
  types?: string[] | undefined;
  processedAt?: RangeFilter;
}

/** Thrown when an update's expected version does not match (optimistic concurrency). */
export class VersionConflictError extends Error {
  constructor(readonly current: number) {
    super(`version conflict: current version is ${current}`);
  }
}

/** Thrown when a cursor is not one this store produced. */
export class BadCursorError extends Error {}
