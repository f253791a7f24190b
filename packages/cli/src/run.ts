import type Anthropic from '@anthropic-ai/sdk';
import { ensureQuickstartResources, followTurn } from './follow.js';

export interface RunOptions {
  agent?: string;
  environment?: string;
  model: string;
  keep: boolean;
}

/**
 * `berth run "<prompt>"`: an ephemeral session. Events print live; the session is deleted afterwards unless
 * --keep. Resolves with the process exit code: 0 when the turn ended normally, 1 otherwise.
 */
export async function runPrompt(
  client: Anthropic,
  prompt: string,
  o: RunOptions,
  print: (l: string) => void,
): Promise<number> {
  let { agent, environment } = o;
  if (!agent || !environment) {
    const r = await ensureQuickstartResources(client, o.model);
    agent ??= r.agentId;
    environment ??= r.environmentId;
  }
  const session = await client.beta.sessions.create({ agent, environment_id: environment, title: prompt.slice(0, 80) });
  print(`session ${session.id}`);
  let code = 1;
  try {
    const outcome = await followTurn(
      client,
      session.id,
      () =>
        client.beta.sessions.events.send(session.id, {
          events: [{ type: 'user.message', content: [{ type: 'text', text: prompt }] }],
        }),
      print,
    );
    code = outcome.stopReason === 'end_turn' && outcome.errors.length === 0 ? 0 : 1;
    if (code !== 0)
      print(`run failed: ${outcome.stopReason}${outcome.errors.length ? ` (${outcome.errors.join('; ')})` : ''}`);
  } finally {
    if (!o.keep) await client.beta.sessions.delete(session.id).catch(() => undefined);
  }
  return code;
}
