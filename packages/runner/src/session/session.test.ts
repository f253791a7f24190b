import { RUN_CONFIG_DEFAULTS } from '../test-support/fixtures.js';
import { describe, expect, it } from 'vitest';
import type { Options, Query, SDKUserMessage } from '@anthropic-ai/claude-agent-sdk';
import { newId, RunnerEventSchema, type RunnerEvent, type SessionRunConfig } from '@berth/protocol';
import { createLogger } from '../log.js';
import { ProcessReaper } from '../proc/reaper.js';
import { AgentSession, type SdkApi } from './session.js';

/**
 * FAKE SDK, named as such: the real CLI always honours interrupts within milliseconds, so the runner's
 * watchdog path (a CLI that does not end an interrupted turn) can only be reached with a stand-in. It records
 * the options of every query and never yields a message.
 */
function fakeSdkThatIgnoresInterrupts() {
  const queries: Array<{ options: Options | undefined; prompt: AsyncIterable<SDKUserMessage> }> = [];
  const sdk: SdkApi = {
    query: ({ prompt, options }) => {
      queries.push({ options, prompt: prompt as AsyncIterable<SDKUserMessage> });
      const forever = new Promise<IteratorResult<never>>((resolve) =>
        options?.abortController?.signal.addEventListener('abort', () => resolve({ value: undefined, done: true })),
      );
      const q = {
        next: () => forever,
        interrupt: () => Promise.resolve(undefined),
        initializationResult: () => new Promise(() => undefined),
        [Symbol.asyncIterator]: () => q,
      };
      return q as unknown as Query;
    },
  };
  return { sdk, queries };
}

const config: SessionRunConfig = {
  model: 'm',
  system: null,
  max_turns: 3,
  cwd: '/tmp',
  home: '/tmp',
  config_dir: '/tmp/berth-session-test-nonexistent',
  gateway_token: 'gw_0123456789abcdef',
  sdk_session_id: '3f1c2a4e-8d7b-4c1a-9e2f-0a1b2c3d4e5f',
  resume: false,
  allowed_tools: null,
  disallowed_tools: [],
  ...RUN_CONFIG_DEFAULTS,
  env: {},
};

function makeSession(loadSdk: () => Promise<SdkApi>) {
  const events: RunnerEvent[] = [];
  const log = createLogger({ level: 'error' });
  const session = new AgentSession({
    sessionId: newId('session'),
    config,
    log,
    emit: (e) => {
      RunnerEventSchema.parse(e);
      events.push(e);
      return Promise.resolve();
    },
    onReady: () => undefined,
    loadSdk,
    modelBaseUrl: () => Promise.resolve('http://127.0.0.1:9'),
    proxyUrl: () => Promise.resolve('http://127.0.0.1:10'),
    reaper: new ProcessReaper({ log, selfPid: process.pid }),
    path: '/usr/bin:/bin',
    timings: { interruptWatchdogMs: 100, stopGraceMs: 100 },
  });
  return { session, events };
}

const say = { type: 'user_message', session_id: 'x', event_id: 'e', content: [{ type: 'text', text: 'hi' }] } as const;
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('AgentSession interrupt paths the real CLI cannot reach', () => {
  it('ends the turn itself when the CLI ignores an interrupt, and starts a fresh query for the next message', async () => {
    const fake = fakeSdkThatIgnoresInterrupts();
    const { session, events } = makeSession(() => Promise.resolve(fake.sdk));
    session.start();
    session.userMessage({ ...say, content: [...say.content] });
    await settle();
    session.interrupt();
    await settle(300);
    expect(events.map((e) => e.type)).toEqual(['session.status_running', 'session.status_idle']);
    expect(events[1]).toMatchObject({ stop_reason: { type: 'end_turn' } });

    session.userMessage({ ...say, content: [...say.content] });
    await settle();
    expect(fake.queries).toHaveLength(2);
    // No transcript exists, so the replacement query starts the SDK session by id rather than resuming it.
    expect(fake.queries[1]!.options).toMatchObject({ sessionId: config.sdk_session_id });
    await session.stop();
  });

  it('ends the turn at once when interrupted before the CLI has the message', async () => {
    const { session, events } = makeSession(() => new Promise<SdkApi>(() => {})); // the SDK never loads
    session.start();
    session.userMessage({ ...say, content: [...say.content] });
    session.interrupt();
    await settle();
    expect(events.map((e) => e.type)).toEqual(['session.status_running', 'session.status_idle']);
    session.interrupt(); // idle: no-op
    await settle();
    expect(events).toHaveLength(2);
    await session.stop();
  });
});
