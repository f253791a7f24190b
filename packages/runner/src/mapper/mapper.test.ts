import { describe, expect, it } from 'vitest';
import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import type { RunnerEvent } from '@berth/protocol';
import { loadFixture, replay } from '../test-support/fixtures.js';
import { EventMapper } from './mapper.js';

const types = (events: RunnerEvent[]) => events.map((e) => e.type);
const of = <T extends RunnerEvent['type']>(events: RunnerEvent[], type: T) =>
  events.filter((e): e is Extract<RunnerEvent, { type: T }> => e.type === type);

const usage = (i: number, o: number, c = 0, r = 0) => ({
  input_tokens: i,
  output_tokens: o,
  cache_creation_input_tokens: c,
  cache_read_input_tokens: r,
});

// Fixtures: real CLI streams against the scripted model (scripts/capture-fixtures.mjs has the scenarios).
describe('EventMapper on captured CLI streams', () => {
  it('maps a tool-using turn in stream order with exact usage, then a second turn', () => {
    const { events, anomalies } = replay(loadFixture('tool-turn'));
    expect(anomalies).toEqual([]);
    expect(types(events)).toEqual([
      'session.status_running',
      'span.model_request_start',
      'agent.thinking',
      'agent.message',
      'agent.tool_use',
      'span.model_request_end',
      'agent.tool_result',
      'span.model_request_start',
      'agent.tool_use',
      'span.model_request_end',
      'agent.tool_result',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.status_idle',
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.status_idle',
    ]);
    const [write, bash] = of(events, 'agent.tool_use');
    expect(write).toMatchObject({
      name: 'write',
      input: { file_path: '/tmp/berth-fixture-ws/hello.txt', content: 'hi\n' },
      evaluated_permission: 'allow',
      evaluation: { type: 'always_allow' },
    });
    expect(bash).toMatchObject({ name: 'bash', input: { command: 'cat /tmp/berth-fixture-ws/hello.txt' } });
    const results = of(events, 'agent.tool_result');
    expect(results.map((r) => r.tool_use_id)).toEqual([write!.id, bash!.id]);
    expect(results[1]).toMatchObject({ content: [{ type: 'text', text: 'hi' }], is_error: false });

    const starts = of(events, 'span.model_request_start');
    const ends = of(events, 'span.model_request_end');
    expect(ends.map((e) => e.model_request_start_id)).toEqual(starts.map((s) => s.id));
    // Exactly the scripted usage (the fourth reply is past the script: its usage is an estimate).
    expect(ends.slice(0, 3).map((e) => e.model_usage)).toEqual([
      usage(120, 30, 5, 7),
      usage(200, 20, 0, 100),
      usage(260, 4, 1, 2),
    ]);
    expect(ends.every((e) => e.is_error === false)).toBe(true);
    expect(of(events, 'session.status_idle').map((e) => e.stop_reason)).toEqual([
      { type: 'end_turn' },
      { type: 'end_turn' },
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('ends an interrupted tool turn idle with end_turn and an error tool result, then serves the next turn', () => {
    const { events, anomalies } = replay(loadFixture('interrupt-long-tool'));
    expect(anomalies).toEqual([]);
    expect(types(events)).toEqual([
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'agent.tool_use',
      'span.model_request_end',
      'agent.tool_result',
      'session.status_idle',
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.status_idle',
    ]);
    expect(of(events, 'agent.tool_result')[0]!.is_error).toBe(true);
    expect(of(events, 'session.status_idle')[0]).toMatchObject({ stop_reason: { type: 'end_turn' } });
  });

  it.each([
    ['api-error-529', 'model_overloaded_error', 'HTTP 529'],
    ['api-error-429', 'model_rate_limited_error', 'HTTP 429'],
    ['api-error-401', 'model_request_failed_error', 'HTTP 401'],
  ])('maps %s to %s, then idle retries_exhausted', (fixture, errorType, text) => {
    const { events } = replay(loadFixture(fixture));
    expect(types(events)).toEqual([
      'session.status_running',
      // one failed request per attempt: the retried one and the final one
      'span.model_request_start',
      'span.model_request_end',
      'span.model_request_start',
      'span.model_request_end',
      'session.error',
      'session.status_idle',
    ]);
    for (const end of of(events, 'span.model_request_end')) {
      expect(end).toMatchObject({ is_error: true, model_usage: usage(0, 0) });
    }
    const [error] = of(events, 'session.error');
    expect(error!.error).toMatchObject({ type: errorType, retry_status: { type: 'exhausted' } });
    expect(error!.error.message).toContain(text);
    expect(error!.error.message).toContain('scripted');
    expect(events.at(-1)).toMatchObject({ stop_reason: { type: 'retries_exhausted' } });
  });

  it('reports max_turns as tool_use_limit_reached_error, then idle retries_exhausted', () => {
    const { events } = replay(loadFixture('max-turns'), 2);
    expect(types(events).slice(-2)).toEqual(['session.error', 'session.status_idle']);
    const [error] = of(events, 'session.error');
    expect(error!.error).toMatchObject({ type: 'tool_use_limit_reached_error', retry_status: { type: 'exhausted' } });
    expect(error!.error.message).toContain('2 model turns');
    expect(events.at(-1)).toMatchObject({ stop_reason: { type: 'retries_exhausted' } });
    expect(of(events, 'agent.tool_result')).toHaveLength(2);
  });
});

describe('EventMapper turn bookkeeping', () => {
  const result = (uuids: string[], extra: Record<string, unknown> = {}) =>
    ({
      type: 'result',
      subtype: 'success',
      is_error: false,
      user_message_uuids: uuids,
      errors: [],
      ...extra,
    }) as unknown as SDKMessage;

  it('emits status_running once per turn and again for a message queued behind the turn', () => {
    const m = new EventMapper({ maxTurns: 5 });
    expect(types(m.userMessage('a'))).toEqual(['session.status_running']);
    expect(m.userMessage('b')).toEqual([]);
    // The turn consumed only "a": "b" runs next, so the session goes idle and straight back to running.
    expect(types(m.map(result(['a'])))).toEqual(['session.status_idle', 'session.status_running']);
    expect(types(m.map(result(['b'])))).toEqual(['session.status_idle']);
    expect(m.isRunning).toBe(false);
  });

  it('treats an interrupt while idle as a no-op', () => {
    const m = new EventMapper({ maxTurns: 5 });
    expect(m.requestInterrupt()).toBe(false);
  });

  it('closes an open span without a verdict when a turn is aborted', () => {
    const m = new EventMapper({ maxTurns: 5 });
    m.userMessage('a');
    const start = m.map({
      type: 'stream_event',
      parent_tool_use_id: null,
      event: { type: 'message_start', message: { usage: { input_tokens: 9, output_tokens: 1 } } },
    } as unknown as SDKMessage);
    const events = m.abortTurn({ kind: 'crashed', message: 'boom' });
    expect(types(events)).toEqual(['span.model_request_end', 'session.error', 'session.status_idle']);
    expect(events[0]).toMatchObject({
      model_request_start_id: start[0]!.id,
      is_error: null,
      model_usage: { input_tokens: 9, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    expect(m.abortTurn({ kind: 'interrupted' })).toEqual([]);
  });

  it('ignores subagent traffic and maps thinking', () => {
    const m = new EventMapper({ maxTurns: 5 });
    const sub = {
      type: 'assistant',
      parent_tool_use_id: 'toolu_x',
      message: { model: 'm', content: [{ type: 'text', text: 'x' }] },
    };
    expect(m.map(sub as unknown as SDKMessage)).toEqual([]);
    const top = {
      ...sub,
      parent_tool_use_id: null,
      message: { model: 'm', content: [{ type: 'thinking', thinking: '…' }] },
    };
    expect(types(m.map(top as unknown as SDKMessage))).toEqual(['agent.thinking']);
  });

  it('names non-toolset tools as the CLI does and wraps non-object input', () => {
    const m = new EventMapper({ maxTurns: 5 });
    const msg = {
      type: 'assistant',
      parent_tool_use_id: null,
      message: { model: 'm', content: [{ type: 'tool_use', id: 't1', name: 'NotebookRead', input: 'raw' }] },
    };
    expect(m.map(msg as unknown as SDKMessage)[0]).toMatchObject({
      type: 'agent.tool_use',
      name: 'NotebookRead',
      input: { value: 'raw' },
    });
  });

  it('reports MCP tool calls (mcp__<server>__<tool>) and their results as agent.mcp_tool_use / mcp_tool_result', () => {
    const m = new EventMapper({ maxTurns: 5 });
    const use = m.map({
      type: 'assistant',
      parent_tool_use_id: null,
      message: {
        model: 'm',
        content: [{ type: 'tool_use', id: 't1', name: 'mcp__docs__search_docs', input: { q: 'x' } }],
      },
    } as unknown as SDKMessage)[0]!;
    expect(use).toMatchObject({
      type: 'agent.mcp_tool_use',
      name: 'search_docs',
      mcp_server_name: 'docs',
      input: { q: 'x' },
    });
    const result = m.map({
      type: 'user',
      parent_tool_use_id: null,
      message: {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 't1', content: 'found', is_error: false }],
      },
    } as unknown as SDKMessage)[0];
    expect(result).toMatchObject({ type: 'agent.mcp_tool_result', mcp_tool_use_id: use.id, is_error: false });
    expect(result).not.toHaveProperty('tool_use_id');
  });
});
