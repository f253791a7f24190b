import type Anthropic from '@anthropic-ai/sdk';
import { formatEvent } from './format.js';

/** How a followed turn ended. */
export interface TurnOutcome {
  stopReason: string;
  errors: string[];
  terminated: boolean;
}

type Ev = { type: string; id?: string; [k: string]: unknown };

/**
 * Opens the session's stream first (streams do not replay), then runs `start` (which sends the user event), and
 * prints events until the session is idle for a reason other than pending action, or terminated.
 */
export async function followTurn(
  client: Anthropic,
  sessionId: string,
  start: () => Promise<unknown>,
  print: (line: string) => void,
): Promise<TurnOutcome> {
  const stream = await client.beta.sessions.events.stream(sessionId);
  const errors: string[] = [];
  await start();
  for await (const raw of stream) {
    const e = raw as unknown as Ev;
    const line = formatEvent(e);
    if (line !== null) print(line);
    if (e.type === 'session.error')
      errors.push(String((e.error as { message?: string } | undefined)?.message ?? 'error'));
    if (e.type === 'session.status_terminated' || e.type === 'session.deleted') {
      stream.controller.abort();
      return { stopReason: 'terminated', errors, terminated: true };
    }
    if (e.type === 'session.status_idle') {
      const reason = (e.stop_reason as { type?: string } | undefined)?.type ?? 'unknown';
      if (reason !== 'requires_action') {
        stream.controller.abort();
        return { stopReason: reason, errors, terminated: false };
      }
    }
  }
  return { stopReason: 'stream_closed', errors, terminated: false };
}

/**
 * The agent and environment the CLI's quick commands use: the newest ones named `berth-cli` (with the requested
 * model), created the first time.
 */
export async function ensureQuickstartResources(
  client: Anthropic,
  model: string,
): Promise<{ agentId: string; environmentId: string }> {
  const agents = await client.beta.agents.list({ limit: 100 });
  const agent =
    agents.data.find((a) => a.name === QUICKSTART && a.model.id === model) ??
    (await client.beta.agents.create({
      name: QUICKSTART,
      model,
      system: 'You are a helpful coding agent running in a Berth sandbox. Work in /workspace.',
      tools: [{ type: 'agent_toolset_20260401' }],
    }));
  const envs = await client.beta.environments.list({ limit: 100 });
  const env =
    envs.data.find((e) => e.name === QUICKSTART) ??
    (await client.beta.environments.create({ name: QUICKSTART, config: { type: 'cloud' } }));
  return { agentId: agent.id, environmentId: env.id };
}

const QUICKSTART = 'berth-cli';
