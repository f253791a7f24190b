/**
 * Integration: the REAL bundled runner process and the REAL Claude CLI, on the host (no sandbox: the driver is
 * tested elsewhere), against the scripted model. `TestBerthd` plays berthd's side of the sockets.
 */
import { RUN_CONFIG_DEFAULTS } from './test-support/fixtures.js';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId, type RunnerEvent, type SessionRunConfig } from '@berth/protocol';
import { startScriptedModel, type Scenario, type ScriptedModel } from '@berth/scripted-model';
import { listProcesses, pidsWithEnv } from './proc/procfs.js';
import { TestBerthd } from './test-support/berthd-harness.js';
import { bundleRunner, RUNNER_DIR, spawnRunner, type RunnerProcess } from './test-support/runner-process.js';

const TOKEN = 'gw-test-token-0123456789';
const root = mkdtempSync(join(tmpdir(), 'berth-runner-it-'));
/** This file's own runner bundle, inside the package so the Agent SDK resolves (dist/ is the sandboxes'). */
const bundleDir = mkdtempSync(join(RUNNER_DIR, '.it-bundle-'));
const ws = join(root, 'workspace');
mkdirSync(ws, { recursive: true });

const usage = (input: number, output: number, create = 0, read = 0) => ({
  input_tokens: input,
  output_tokens: output,
  cache_creation_input_tokens: create,
  cache_read_input_tokens: read,
});
const longCommand =
  `(setsid node -e "require('fs').writeFileSync('${ws}/escaped.pid', String(process.pid)); setInterval(()=>{},1000)" &) ; ` +
  `node -e "require('fs').writeFileSync('${ws}/tool.pid', String(process.pid)); setInterval(()=>{},1000)"`;

const scenarios: Scenario[] = [
  {
    name: 'it-write-run',
    turns: [
      {
        content: [
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_use', name: 'Write', input: { file_path: `${ws}/hello.txt`, content: 'hi\n' } },
        ],
        usage: usage(120, 30, 5, 7),
      },
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: `cat ${ws}/hello.txt` } }],
        usage: usage(200, 20, 0, 100),
      },
      { content: [{ type: 'text', text: 'Done.' }], usage: usage(260, 4, 1, 2) },
    ],
    after: 'end',
  },
  {
    name: 'it-long-tool',
    turns: [
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: longCommand } }], usage: usage(10, 10) },
      { content: [{ type: 'text', text: 'Stopped.' }], usage: usage(10, 2) },
    ],
  },
  {
    name: 'it-loop',
    turns: [{ content: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo again' } }], usage: usage(50, 5) }],
    after: 'repeat-last',
  },
  {
    name: 'it-slow',
    turns: [
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo one' } }],
        usage: usage(11, 1),
        delay_ms: 400,
      },
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo two' } }],
        usage: usage(12, 2),
        delay_ms: 400,
      },
      { content: [{ type: 'text', text: 'Slow done.' }], usage: usage(13, 3), delay_ms: 400 },
    ],
  },
  { name: 'it-overloaded', turns: [{ error: { status: 529, type: 'overloaded_error', message: 'try later' } }] },
];

let model: ScriptedModel;
let berthd: TestBerthd;
let runner: RunnerProcess;
let bundle: string;

function sessionConfig(over: Partial<SessionRunConfig> = {}): SessionRunConfig {
  const id = randomUUID();
  return {
    model: 'claude-sonnet-4-5',
    system: 'You are a test agent.',
    max_turns: 10,
    cwd: ws,
    home: join(root, 'home'),
    config_dir: join(root, 'home', `.claude-${id}`),
    gateway_token: TOKEN,
    sdk_session_id: id,
    resume: false,
    allowed_tools: null,
    disallowed_tools: [],
    ...RUN_CONFIG_DEFAULTS,
    // Host-side tests run as root, where bypassPermissions needs IS_SANDBOX; no retries keep error tests fast.
    env: { IS_SANDBOX: '1', CLAUDE_CODE_MAX_RETRIES: '0' },
    ...over,
  };
}

function startSession(over: Partial<SessionRunConfig> = {}): string {
  const sessionId = newId('session');
  berthd.send({ type: 'start_session', session_id: sessionId, config: sessionConfig(over) });
  return sessionId;
}

function say(sessionId: string, text: string): void {
  berthd.send({
    type: 'user_message',
    session_id: sessionId,
    event_id: newId('event'),
    content: [{ type: 'text', text }],
  });
}

const types = (events: RunnerEvent[]) => events.map((e) => e.type);
const idles = (sessionId: string) => berthd.events(sessionId).filter((e) => e.type === 'session.status_idle');
const waitIdle = (sessionId: string, n: number, ms = 60_000) =>
  berthd.waitFor(() => idles(sessionId).length >= n && berthd.events(sessionId), ms, `idle #${n} of ${sessionId}`);
const sessionPids = (sessionId: string) => pidsWithEnv('BERTH_SESSION_ID', sessionId, listProcesses());
const alive = (pid: number) => listProcesses().some((p) => p.pid === pid && p.state !== 'Z');

beforeAll(async () => {
  bundle = bundleRunner(bundleDir);
  model = await startScriptedModel({ scenarios, apiKey: TOKEN });
  berthd = await TestBerthd.start(root, Number(new URL(model.url).port));
  runner = spawnRunner({
    bundle,
    controlSocket: berthd.controlSocket,
    modelSocket: berthd.modelSocket,
    sandboxId: 'sbx_it',
    home: join(root, 'home'),
  });
  await berthd.waitFor(() => berthd.hellos.length > 0, 10_000, 'hello');
});

afterEach(() => {
  // Any of these is a runner bug whichever test provoked it.
  expect(berthd.invalid).toEqual([]);
  expect(berthd.gaps).toEqual([]);
  expect(runner.logs.filter((l) => l['msg'] === 'event failed schema validation; dropped')).toEqual([]);
});

afterAll(async () => {
  runner?.kill();
  // For debugging: BERTH_TEST_RUNNER_LOG=/path keeps the runner's log of the whole run.
  const keep = process.env['BERTH_TEST_RUNNER_LOG'];
  if (keep && runner) writeFileSync(keep, runner.stderr());
  await berthd?.close();
  await model?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
});

describe('runner with the real CLI', () => {
  it('says hello first, with no sessions, and never writes to stdout', () => {
    expect(berthd.frames[0]).toMatchObject({
      type: 'hello',
      sandbox_id: 'sbx_it',
      runner_version: '0.1.0',
      pid: runner.pid,
      sessions: [],
    });
    expect(runner.stdout()).toBe('');
  });

  it('ignores malformed and invalid frames, and reconnects after an oversize one', async () => {
    berthd.sendRaw('not json\n{"type":"ack","session_id":"nope","seq":1}\n{"type":"launch_missiles"}\n');
    await berthd.waitFor(
      () => runner.logs.filter((l) => String(l['msg']).includes('ignored')).length >= 3,
      5000,
      'three ignored frames',
    );
    const hellos = berthd.hellos.length;
    berthd.sendRaw('x'.repeat(4 * 1024 * 1024 + 10));
    await berthd.waitFor(() => berthd.hellos.length > hellos, 10_000, 'hello after the runner dropped the connection');
  });

  it('runs a full tool turn in Managed Agents order with exact usage, then continues the conversation', async () => {
    const s = startSession();
    say(s, '[scenario:it-write-run] write the file');
    const events = await waitIdle(s, 1);
    expect(types(events)).toEqual([
      'session.status_running',
      'span.model_request_start',
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
    ]);
    expect(readFileSync(`${ws}/hello.txt`, 'utf8')).toBe('hi\n');
    const byType = <T extends RunnerEvent['type']>(t: T) =>
      events.filter((e): e is Extract<RunnerEvent, { type: T }> => e.type === t);
    const [write, bash] = byType('agent.tool_use');
    expect(write).toMatchObject({
      name: 'write',
      input: { file_path: `${ws}/hello.txt`, content: 'hi\n' },
      evaluated_permission: 'allow',
    });
    expect(bash).toMatchObject({ name: 'bash', input: { command: `cat ${ws}/hello.txt` } });
    const results = byType('agent.tool_result');
    expect(results.map((r) => r.tool_use_id)).toEqual([write!.id, bash!.id]);
    expect(results[1]!.content).toEqual([{ type: 'text', text: 'hi' }]);
    expect(byType('span.model_request_end').map((e) => e.model_usage)).toEqual([
      usage(120, 30, 5, 7),
      usage(200, 20, 0, 100),
      usage(260, 4, 1, 2),
    ]);
    expect(byType('agent.message').map((m) => m.content[0]!.text)).toEqual(['Writing it.', 'Done.']);
    expect(events.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' }, stop_details: null });
    // The CLI presented the session's gateway token (the model checks it) and nothing went elsewhere.
    expect(model.requests.every((r) => r.path === '/v1/messages')).toBe(true);

    const before = model.requests.length;
    say(s, 'and now?');
    const after = await waitIdle(s, 2);
    expect(types(after.slice(events.length))).toEqual([
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.status_idle',
    ]);
    const body = JSON.stringify(model.requests[before]!.body);
    expect(body).toContain('Writing it.');
    expect(body).toContain('and now?');
    expect(model.requests[before]!.turn).toBe(3);
  });

  it('interrupts a long tool: idle within 3 s and its processes are gone', async () => {
    const s = startSession();
    say(s, '[scenario:it-long-tool] run forever');
    // A pid file can be seen created but still empty: wait for both numbers.
    const readPid = (f: string) => (existsSync(`${ws}/${f}`) ? Number(readFileSync(`${ws}/${f}`, 'utf8')) : 0);
    const [toolPid, escapedPid] = await berthd.waitFor(
      () =>
        readPid('tool.pid') > 0 && readPid('escaped.pid') > 0 ? [readPid('tool.pid'), readPid('escaped.pid')] : null,
      60_000,
      'the tool to start',
    );
    expect(alive(toolPid) && alive(escapedPid)).toBe(true);

    const t0 = Date.now();
    berthd.send({ type: 'interrupt', session_id: s });
    const events = await waitIdle(s, 1, 3000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    expect(events.find((e) => e.type === 'agent.tool_result')).toMatchObject({ is_error: true });
    expect(alive(toolPid)).toBe(false);
    expect(alive(escapedPid)).toBe(false); // left the CLI's process group: killed by the runner's reaper

    // Interrupt when idle is a no-op; the same session then serves the next turn.
    berthd.send({ type: 'interrupt', session_id: s });
    say(s, 'continue');
    const next = await waitIdle(s, 2);
    expect(next.slice(events.length).map((e) => e.type)).toContain('agent.message');
    expect(next.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
  });

  it('stops a repeat-last loop at max_turns with tool_use_limit_reached_error', async () => {
    const s = startSession({ max_turns: 2 });
    say(s, '[scenario:it-loop] loop');
    const events = await waitIdle(s, 1);
    const tail = events.slice(-2);
    expect(tail[0]).toMatchObject({
      type: 'session.error',
      error: { type: 'tool_use_limit_reached_error', retry_status: { type: 'exhausted' } },
    });
    expect(JSON.stringify(tail[0])).toContain('2 model turns');
    expect(tail[1]).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'retries_exhausted' } });
  });

  it('reports an overloaded model as model_overloaded_error, then idle retries_exhausted', async () => {
    const s = startSession();
    say(s, '[scenario:it-overloaded] hi');
    const events = await waitIdle(s, 1);
    const err = events.find((e) => e.type === 'session.error');
    expect(err).toMatchObject({ error: { type: 'model_overloaded_error', retry_status: { type: 'exhausted' } } });
    expect(events.at(-1)).toMatchObject({ stop_reason: { type: 'retries_exhausted' } });
  });

  it('loses and duplicates nothing when the control connection drops mid-turn', async () => {
    const s = startSession();
    say(s, '[scenario:it-slow] slowly');
    await berthd.waitFor(() => berthd.events(s).some((e) => e.type === 'agent.tool_use'), 60_000, 'first tool use');
    // berthd stops persisting, receives a few more events, then goes away without having persisted them.
    berthd.holdAcks = true;
    await new Promise((r) => setTimeout(r, 300));
    const persistedAtDrop = berthd.events(s).length;
    berthd.dropConnection();
    berthd.holdAcks = false;
    const hellosBefore = berthd.hellos.length;
    await berthd.waitFor(() => berthd.hellos.length > hellosBefore, 10_000, 'hello after reconnect');
    const hello = berthd.hellos.at(-1)!;
    // The runner had sent events berthd never persisted: they must come back after welcome.
    expect(hello.sessions.find((x) => x.session_id === s)!.last_seq).toBeGreaterThan(persistedAtDrop);

    const events = await waitIdle(s, 1);
    const seqs = berthd.persisted.get(s)!.map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(types(events)).toEqual([
      'session.status_running',
      'span.model_request_start',
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
    ]);
  });

  it('ends a turn whose CLI dies with an error, and resumes the conversation on the next message', async () => {
    const s = startSession();
    say(s, '[scenario:it-slow] slowly');
    await berthd.waitFor(() => berthd.events(s).some((e) => e.type === 'agent.tool_use'), 60_000, 'first tool use');
    const cli = Math.min(...sessionPids(s)); // the CLI is the session's oldest process
    process.kill(cli, 'SIGKILL');
    const events = await waitIdle(s, 1, 10_000);
    expect(events.at(-2)).toMatchObject({
      type: 'session.error',
      error: { type: 'unknown_error', retry_status: { type: 'exhausted' } },
    });
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'retries_exhausted' } });

    const before = model.requests.length;
    say(s, 'carry on');
    const after = await waitIdle(s, 2);
    expect(after.at(-1)).toMatchObject({ stop_reason: { type: 'end_turn' } });
    // A new CLI resumed the SDK session: the model saw the earlier conversation. (How much of the killed turn
    // survives depends on what the CLI had flushed to its transcript before SIGKILL; the prompt always does.)
    const body = JSON.stringify(model.requests[before]!.body);
    expect(body).toContain('[scenario:it-slow] slowly');
    expect(body).toContain('carry on');
  });

  it('stop_session ends the CLI and every process of the session, then answers session_stopped', async () => {
    const s = startSession();
    await berthd.waitFor(() => sessionPids(s).length > 0, 30_000, 'the CLI to start');
    berthd.send({ type: 'stop_session', session_id: s });
    await berthd.waitFor(
      () => berthd.frames.some((f) => f.type === 'session_stopped' && f.session_id === s),
      10_000,
      'session_stopped',
    );
    expect(sessionPids(s)).toEqual([]);
    berthd.dropConnection();
    await berthd.waitFor(
      () => berthd.connected && berthd.hellos.at(-1)!.sessions.every((x) => x.session_id !== s),
      10_000,
      'hello without it',
    );
  });

  it('exits 0 on SIGTERM after stopping its sessions', async () => {
    const s = startSession();
    await berthd.waitFor(() => sessionPids(s).length > 0, 30_000, 'the CLI to start');
    runner.child.kill('SIGTERM');
    expect(await runner.exited).toEqual({ code: 0, signal: null });
    expect(berthd.frames.some((f) => f.type === 'session_stopped' && f.session_id === s)).toBe(true);
    expect(sessionPids(s)).toEqual([]);
    expect(runner.stderr()).not.toContain(TOKEN);
  });
});
