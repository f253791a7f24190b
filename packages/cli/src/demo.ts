import Anthropic from '@anthropic-ai/sdk';
import type { BerthConfig } from '@berth/server';
import { followTurn } from './follow.js';
import { serve } from './serve.js';

/**
 * `berth demo`: berthd on the embedded defaults (SQLite, bwrap, scripted model), one session that writes and runs
 * a small program, its events printed as they happen; the server stays up for exploring.
 */
export async function demo(config: BerthConfig, print: (l: string) => void): Promise<void> {
  // The demo cleans up after itself: its sandboxes go when it stops.
  const app = await serve({ ...config, stopSandboxesOnExit: true }, print);
  const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey });
  const agent = await client.beta.agents.create({
    name: 'berth-demo',
    model: 'claude-sonnet-4-5',
    system: 'You write small programs in /workspace and run them.',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = await client.beta.environments.create({ name: 'berth-demo', config: { type: 'cloud' } });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id, title: 'demo' });
  print(`\nagent ${agent.id}\nenvironment ${env.id}\nsession ${session.id}\n`);
  const text = config.scriptedModel
    ? '[scenario:write-and-run] Write a small program that prints a greeting, then run it.'
    : 'Write a small shell program in /workspace that prints a greeting, then run it.';
  const outcome = await followTurn(
    client,
    session.id,
    () =>
      client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
      }),
    (l) => print(`  ${l}`),
  );
  print(`\nThe turn ended: ${outcome.stopReason}.`);
  print(`Berth keeps running at ${app.url}. Try:`);
  print(`  npx berth sessions list --url ${app.url}`);
  print(`  npx berth sessions events ${session.id} --url ${app.url}`);
  print(`  npx berth run "[scenario:write-and-run] again" --url ${app.url}`);
  print('Press Ctrl-C to stop (sandboxes are removed on exit).');
}
