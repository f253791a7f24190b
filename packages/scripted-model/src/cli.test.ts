import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query, type Options, type SDKMessage, type SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinScenarios } from './load.js';
import type { Scenario } from './schema.js';
import { startScriptedModel, type ScriptedModel } from './server.js';

/**
 * The real Claude Agent SDK CLI against the scripted model, on the host. Proves the CLI accepts our SSE, and
 * pins down how it sends history (which the turn-selection rule depends on).
 */

let model: ScriptedModel;
let dir: string;

/** The built-in write-and-run scenario, with its /workspace paths moved into the temp dir. */
function hostScenario(): Scenario {
  const builtin = builtinScenarios().find((s) => s.name === 'write-and-run');
  if (!builtin) throw new Error('built-in write-and-run scenario missing');
  return JSON.parse(
    JSON.stringify({ ...builtin, name: 'write-and-run-host' }).replaceAll('/workspace', dir),
  ) as Scenario;
}

function options(extra: Partial<Options> = {}): Options {
  return {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      CLAUDE_CONFIG_DIR: join(dir, '.claude'),
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'test',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      IS_SANDBOX: '1', // the tests run as root, where bypassPermissions is refused without it
    },
    settingSources: [],
    permissionMode: 'bypassPermissions',
    allowDangerouslySkipPermissions: true,
    ...extra,
  };
}

/**
 * Runs one query to completion. `maxTurns` and the abort timer bound a run that goes wrong (a model reply the
 * CLI misreads can make it loop), so a failure ends as an error here and never leaves a CLI process behind.
 */
async function run(prompt: string, extra?: Partial<Options>): Promise<SDKMessage[]> {
  const abortController = new AbortController();
  const timer = setTimeout(() => abortController.abort(), 45_000);
  const messages: SDKMessage[] = [];
  try {
    for await (const m of query({ prompt, options: options({ maxTurns: 8, abortController, ...extra }) }))
      messages.push(m);
  } catch (err) {
    throw new Error(`query failed after ${messages.map((m) => m.type).join(', ')}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
  }
  return messages;
}

function resultOf(messages: SDKMessage[]): SDKResultMessage {
  const result = messages.find((m): m is SDKResultMessage => m.type === 'result');
  if (!result) throw new Error(`no result message among ${messages.map((m) => m.type).join(', ')}`);
  return result;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scripted-cli-'));
  // apiKey: also proves the CLI presents ANTHROPIC_API_KEY as the server expects.
  model = await startScriptedModel({ apiKey: 'test' });
  model.addScenario(hostScenario());
});
afterAll(async () => {
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the real Claude CLI against the scripted model', () => {
  let sessionId = '';

  it(
    'runs write-and-run: writes the file, runs it with Bash, succeeds with the scripted usage',
    { timeout: 60_000 },
    async () => {
      const messages = await run('Please say hello [scenario:write-and-run-host]');
      const result = resultOf(messages);
      expect(result.subtype).toBe('success');
      expect(result.subtype === 'success' && result.result).toContain('Done.');
      sessionId = result.session_id;

      expect(await readFile(join(dir, 'hello.sh'), 'utf8')).toBe('#!/bin/sh\necho "Hello from Berth!"\n');
      const toolResults = messages.filter((m) => m.type === 'user').map((m) => JSON.stringify(m.message.content));
      expect(toolResults.some((r) => r.includes('tool_result') && r.includes('Hello from Berth!'))).toBe(true);
      // The CLI sums the usage the model reports: the scripted counts arrive exactly.
      expect(result.usage).toMatchObject({ input_tokens: 3970, output_tokens: 120, cache_read_input_tokens: 2550 });

      const calls = model.requests.filter((r) => r.path === '/v1/messages' && r.turn !== null);
      expect(calls.map((r) => [r.url, r.scenario, r.turn])).toEqual([
        ['/v1/messages?beta=true', 'write-and-run-host', 0],
        ['/v1/messages?beta=true', 'write-and-run-host', 1],
        ['/v1/messages?beta=true', 'write-and-run-host', 2],
      ]);
      // History shape: one assistant message per model reply (text + tool_use together), tool results in one
      // user message, and a {"role":"system"} entry inside `messages`.
      const body = calls[1]?.body as { messages: Array<{ role: string; content: Array<{ type: string }> }> };
      const shape = body.messages
        .filter((m) => m.role !== 'system')
        .map((m) => `${m.role}:${m.content.map((b) => b.type).join('+')}`);
      expect(shape).toEqual(['user:text+text', 'assistant:text+tool_use', 'user:tool_result']);
      expect(body.messages.some((m) => m.role === 'system')).toBe(true);
    },
  );

  it('continues a resumed session at the next turn (the model is stateless)', { timeout: 60_000 }, async () => {
    expect(sessionId).not.toBe('');
    const before = model.requests.length;
    const result = resultOf(await run('And now?', { resume: sessionId }));
    expect(result.subtype === 'success' && result.result).toBe('(scenario write-and-run-host has no more turns)');
    const calls = model.requests.slice(before).filter((r) => r.path === '/v1/messages' && r.turn !== null);
    expect(calls.map((r) => r.turn)).toEqual([3]);
  });
});
