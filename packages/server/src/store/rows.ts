import type { Insertable, Selectable, Updateable } from 'kysely';
import type { AgentsTable, AgentVersionsTable, EnvironmentsTable, EventsTable, SessionsTable } from './schema.js';
import type {
  AgentBody,
  AgentRecord,
  EnvironmentRecord,
  EventRecord,
  JsonObject,
  SessionRecord,
  SessionStatus,
} from './types.js';

/** Row ⇄ record conversion. JSON columns are parsed here and nowhere else. */

export function parse<T>(text: string): T {
  return JSON.parse(text) as T;
}

export function agentFromRows(a: Selectable<AgentsTable>, v: Selectable<AgentVersionsTable>): AgentRecord {
  return {
    ...parse<AgentBody>(v.body),
    id: a.id,
    tenant_id: a.tenant_id,
    version: Number(v.version),
    created_at: a.created_at,
    // A version's updated_at is when that version was written.
    updated_at: v.created_at,
    archived_at: a.archived_at,
  };
}

/** Just the versioned fields of an agent, in a fixed key order (so two bodies compare as JSON). */
export function pickAgentBody(a: AgentBody): AgentBody {
  return {
    name: a.name,
    description: a.description,
    system: a.system,
    model: a.model,
    tools: a.tools,
    mcp_servers: a.mcp_servers,
    skills: a.skills,
    metadata: a.metadata,
    multiagent: a.multiagent,
    execution_identity: a.execution_identity,
  };
}

export function agentBody(a: AgentBody): string {
  return JSON.stringify(pickAgentBody(a));
}

export function envFromRow(r: Selectable<EnvironmentsTable>): EnvironmentRecord {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    name: r.name,
    description: r.description,
    config: parse<JsonObject>(r.config),
    metadata: parse<Record<string, string>>(r.metadata),
    scope: r.scope,
    berth: parse<JsonObject>(r.berth),
    created_at: r.created_at,
    updated_at: r.updated_at,
    archived_at: r.archived_at,
  };
}

export function envToRow(e: EnvironmentRecord): Insertable<EnvironmentsTable> {
  return {
    ...e,
    config: JSON.stringify(e.config),
    metadata: JSON.stringify(e.metadata),
    berth: JSON.stringify(e.berth),
  };
}

export function sessionFromRow(r: Selectable<SessionsTable>): SessionRecord {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    environment_id: r.environment_id,
    agent_id: r.agent_id,
    agent_version: Number(r.agent_version),
    agent: parse<JsonObject>(r.agent),
    title: r.title,
    metadata: parse<Record<string, string>>(r.metadata),
    resources: parse<SessionRecord['resources']>(r.resources),
    vault_ids: parse<string[]>(r.vault_ids),
    budget: r.budget === null ? null : parse<JsonObject>(r.budget),
    status: r.status as SessionStatus,
    berth: parse<JsonObject>(r.berth),
    stats: parse<JsonObject>(r.stats),
    sandbox_id: r.sandbox_id,
    sandbox_state: r.sandbox_state,
    gateway_token_hash: r.gateway_token_hash,
    sdk_session_id: r.sdk_session_id,
    runner_acked_seq: Number(r.runner_acked_seq),
    created_at: r.created_at,
    updated_at: r.updated_at,
    archived_at: r.archived_at,
  };
}

const JSON_SESSION_FIELDS = ['agent', 'metadata', 'resources', 'vault_ids', 'berth', 'stats'] as const;

/** Serialises the given session fields for an INSERT or UPDATE. */
export function sessionToRow(s: Partial<SessionRecord>): Updateable<SessionsTable> {
  const row: Record<string, unknown> = { ...s };
  for (const k of JSON_SESSION_FIELDS) if (k in s) row[k] = JSON.stringify(s[k]);
  if ('budget' in s) row.budget = s.budget === null || s.budget === undefined ? null : JSON.stringify(s.budget);
  return row;
}

export function eventFromRow(r: Selectable<EventsTable>): EventRecord {
  return {
    id: r.id,
    session_id: r.session_id,
    seq: Number(r.seq),
    type: r.type,
    processed_at: r.processed_at,
    body: parse<JsonObject>(r.body),
  };
}
