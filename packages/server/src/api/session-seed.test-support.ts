import { newId } from '@berth/protocol';
import type { Store } from '../store/store.js';

/** Test helper: stores an agent, an environment and an idle session of theirs; returns the session id. */
export async function seedSession(s: Store): Promise<string> {
  const now = new Date().toISOString();
  const agentId = newId('agent');
  const envId = newId('environment');
  await s.createAgent({
    id: agentId,
    version: 1,
    name: 'a',
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
  });
  await s.createEnvironment({
    id: envId,
    name: 'e',
    description: null,
    config: { type: 'cloud', networking: { type: 'unrestricted' } },
    metadata: {},
    scope: null,
    berth: {},
    created_at: now,
    updated_at: now,
    archived_at: null,
  });
  const id = newId('session');
  await s.createSession({
    id,
    environment_id: envId,
    agent_id: agentId,
    agent_version: 1,
    agent: { id: agentId, type: 'agent', version: 1 },
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
  });
  return id;
}
