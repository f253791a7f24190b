import type { Store } from '../store/store.js';
import { agentRecord, envRecord, sessionRecord } from '../store/records.test-support.js';

/** Test helper: stores an agent, an environment and an idle session of theirs; returns the session id. */
export async function seedSession(s: Store): Promise<string> {
  const now = new Date().toISOString();
  const agent = agentRecord(now);
  const env = envRecord(now);
  const session = sessionRecord(now, env.id, agent);
  await s.createAgent(agent);
  await s.createEnvironment(env);
  await s.createSession(session);
  return session.id;
}
