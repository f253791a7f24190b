import { newId } from '@berth/protocol';
import type { AgentRecord, EnvironmentRecord, SessionRecord } from './types.js';

/*
 * Records for tests that fill a store directly (the store conformance suites, the API's stream tests): an agent, an
 * environment and an idle session of theirs, in the default tenant (a tenant-scoped store stamps its own).
 */

export function agentRecord(now: string, name = 'a'): AgentRecord {
  return {
    id: newId('agent'),
    tenant_id: 'default',
    version: 1,
    name,
    description: null,
    system: null,
    model: { id: 'claude-sonnet-4-5' },
    tools: [],
    mcp_servers: [],
    skills: [],
    metadata: {},
    multiagent: null,
    execution_identity: { type: 'service_account' },
    created_at: now,
    updated_at: now,
    archived_at: null,
  };
}

export function envRecord(now: string): EnvironmentRecord {
  return {
    id: newId('environment'),
    tenant_id: 'default',
    name: 'e',
    description: null,
    config: { type: 'cloud', networking: { type: 'unrestricted' } },
    metadata: { k: 'v' },
    scope: null,
    berth: {},
    created_at: now,
    updated_at: now,
    archived_at: null,
  };
}

export function sessionRecord(now: string, envId: string, a: AgentRecord): SessionRecord {
  return {
    id: newId('session'),
    tenant_id: 'default',
    environment_id: envId,
    agent_id: a.id,
    agent_version: a.version,
    agent: { id: a.id, type: 'agent', version: a.version },
    title: null,
    metadata: {},
    resources: [],
    vault_ids: [],
    budget: null,
    status: 'idle',
    berth: {},
    stats: {},
    sandbox_id: null,
    sandbox_state: 'starting',
    gateway_token_hash: newId('request'),
    sdk_session_id: '00000000-0000-4000-8000-000000000000',
    runner_acked_seq: 0,
    created_at: now,
    updated_at: now,
    archived_at: null,
  };
}
