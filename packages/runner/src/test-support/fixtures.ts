import type { SessionRunConfig } from '@berth/protocol';
import { readFileSync } from 'node:fs';
import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import { RunnerEventSchema, type RunnerEvent } from '@berth/protocol';
import { EventMapper } from '../mapper/mapper.js';

/**
 * Fixtures are real SDK message streams (CLI 2.1.332) captured against a loopback model server, one JSON value
 * per line, with marker lines `{"berth":"user_message","uuid":…}` and `{"berth":"interrupt"}` recording when the
 * runner fed a user message or asked for an interrupt.
 */
export type FixtureLine = { berth: 'user_message'; uuid: string } | { berth: 'interrupt' } | SDKMessage;

export function loadFixture(name: string): FixtureLine[] {
  const text = readFileSync(new URL(`../mapper/fixtures/${name}.jsonl`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as FixtureLine);
}

/** Replays a fixture through a fresh mapper; every event is checked against the wire schema. */
export function replay(lines: FixtureLine[], maxTurns = 10): { events: RunnerEvent[]; anomalies: string[] } {
  const anomalies: string[] = [];
  const mapper = new EventMapper({ maxTurns, onAnomaly: (what) => anomalies.push(what) });
  const events: RunnerEvent[] = [];
  for (const line of lines) {
    if ('berth' in line) {
      if (line.berth === 'user_message') events.push(...mapper.userMessage(line.uuid));
      else mapper.requestInterrupt();
      continue;
    }
    events.push(...mapper.map(line));
  }
  for (const e of events) RunnerEventSchema.parse(e);
  return { events, anomalies };
}

/** The run-config fields with defaults (no MCP servers, custom tools or tool policy): spread into tests' configs. */
export const RUN_CONFIG_DEFAULTS: Pick<
  SessionRunConfig,
  'mcp_servers' | 'ask_tools' | 'allow_tools' | 'custom_tools' | 'web_domains' | 'effort' | 'fast_mode'
> = {
  mcp_servers: [],
  ask_tools: [],
  allow_tools: [],
  custom_tools: [],
  web_domains: {},
  effort: null,
  fast_mode: false,
};
