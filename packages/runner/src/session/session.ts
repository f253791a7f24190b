import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Query, SDKMessage, SDKUserMessage } from '@anthropic-ai/claude-agent-sdk';
import type { BerthdFrame, RunnerEvent, SessionRunConfig } from '@berth/protocol';
import type { Logger } from '../log.js';
import { EventMapper } from '../mapper/mapper.js';
import { ActionGate, type ActionAnswer } from './actions.js';
import { permissionFor, permissionHooks } from './permissions.js';
import type { ProcessReaper } from '../proc/reaper.js';
import { PushQueue } from './input.js';
import { buildQueryOptions, SESSION_MARKER_ENV } from './options.js';
import { createCliSpawner } from './spawn.js';

/** The part of the Agent SDK the session uses (loaded lazily: importing the SDK is not free). */
export type SdkApi = { query: typeof import('@anthropic-ai/claude-agent-sdk').query };

/** Timeouts that bound interrupt and stop. */
export interface SessionTimings {
  /** If the CLI has not ended an interrupted turn by then, the runner ends it and restarts the CLI. */
  interruptWatchdogMs: number;
  /** How long a stopping CLI gets to exit after its stdin closes before SIGKILL. */
  stopGraceMs: number;
}

export const DEFAULT_TIMINGS: SessionTimings = { interruptWatchdogMs: 2500, stopGraceMs: 3000 };

/** What an {@link AgentSession} needs from the runner. */
export interface AgentSessionDeps {
  sessionId: string;
  config: SessionRunConfig;
  log: Logger;
  /** Validates, numbers and sends one event; resolves when the outbox has room for more. Never rejects. */
  emit: (event: RunnerEvent) => Promise<void>;
  /** The CLI answered the SDK's initialize request: messages are now served without start-up delay. */
  onReady: () => void;
  loadSdk: () => Promise<SdkApi>;
  /** The model forwarder's base URL. */
  modelBaseUrl: () => Promise<string>;
  proxyUrl: () => Promise<string>;
  reaper: ProcessReaper;
  /** PATH for the CLI. */
  path: string;
  timings?: SessionTimings;
}

/** One SDK query: its input stream, its CLI process and the loop that reads its messages. */
interface Run {
  input: PushQueue<SDKUserMessage>;
  abort: AbortController;
  query: Query | null;
  child: ChildProcess | null;
  loop: Promise<void>;
}

type UserMessageFrame = Extract<BerthdFrame, { type: 'user_message' }>;
type ConfirmationFrame = Extract<BerthdFrame, { type: 'tool_confirmation' }>;
type CustomResultFrame = Extract<BerthdFrame, { type: 'custom_tool_result' }>;

/**
 * One agent session: one streaming SDK `query()` (one CLI process) serving every turn. The query starts as soon
 * as the session does, so the CLI is initialised before the first message. If the query dies, the turn in
 * progress ends with an error and the next user message starts a new query that resumes the SDK session.
 */
export class AgentSession {
  private readonly mapper: EventMapper;
  /** The run config; `reconfigure` replaces it (new tools or MCP servers) for the next agent process. */
  private config: SessionRunConfig;
  /** A reconfigure arrived mid-turn: the agent process restarts once the turn ends. */
  private restartAfterTurn = false;
  /** Tool calls waiting for the client (ask-gated and custom tools). */
  private readonly gate: ActionGate;
  private readonly timings: SessionTimings;
  private readonly log: Logger;
  /** The CLI's CLAUDE_CODE_TMPDIR, removed when the session stops. */
  private readonly tmpDir: string;
  private run: Run | null = null;
  private stopping: Promise<void> | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** Serialises emits so events leave in the order they were produced, even while waiting for outbox room. */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Resolves when the previous run's processes are gone. A new run waits for it before spawning its CLI, so the
   * cleanup (which finds processes by the session's env marker) can never hit the new CLI.
   */
  private cleanup: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AgentSessionDeps) {
    this.log = deps.log;
    this.timings = deps.timings ?? DEFAULT_TIMINGS;
    this.tmpDir = `/tmp/berth-cc-${deps.sessionId}`;
    this.config = deps.config;
    this.mapper = new EventMapper({
      maxTurns: deps.config.max_turns,
      onAnomaly: (what, fields) => this.log.warn(`sdk mapping: ${what}`, fields),
      permissionFor: (name) => permissionFor(this.config, name),
      mcpServerNames: () => this.config.mcp_servers.map((s) => s.name),
      onGated: (toolu, eventId, kind) => this.gate.expect(toolu, eventId, kind),
    });
    this.gate = new ActionGate({
      spanOpen: () => this.mapper.spanOpen,
      requiresAction: (ids) => this.mapper.requiresAction(ids),
      resumed: () => this.mapper.resumed(),
    });
  }

  /** Starts the query (and so the CLI) ahead of the first message. */
  start(): void {
    let resume = this.config.resume;
    if (resume && !this.transcriptExists()) {
      this.log.warn('resume requested but the transcript is missing; starting the SDK session fresh');
      resume = false;
    }
    this.run = this.launch(resume);
  }

  /** Feeds a user message to the agent, starting a turn if none is running. */
  userMessage(frame: UserMessageFrame): void {
    if (this.stopping) {
      this.log.warn('user message for a stopping session ignored', { event_id: frame.event_id });
      return;
    }
    const uuid = randomUUID();
    this.log.info('user message', { event_id: frame.event_id, uuid });
    void this.emitAll(this.mapper.userMessage(uuid));
    // The previous query died: resume the SDK session from its transcript in a new one.
    this.run ??= this.launch(this.transcriptExists());
    this.run.input.push({
      type: 'user',
      message: { role: 'user', content: frame.content as SDKUserMessage['message']['content'] },
      parent_tool_use_id: null,
      uuid,
    });
  }

  /**
   * New tools or MCP servers for this session: the agent process restarts with them and resumes the conversation
   * from its transcript. berthd sends it only while the session is idle; mid-turn it waits for the turn's end.
   */
  reconfigure(config: SessionRunConfig): void {
    if (this.stopping) return;
    this.config = config;
    this.log.info('reconfigured; the agent process restarts', { running: this.mapper.isRunning });
    if (this.mapper.isRunning) this.restartAfterTurn = true;
    else this.restart();
  }

  /** Replaces the agent process at once (idle only): the next one resumes the SDK session. */
  private restart(): void {
    this.restartAfterTurn = false;
    const run = this.run;
    if (!run) return;
    void this.retire(run, [], this.timings.stopGraceMs, false).then(() => {
      // Ready again as soon as possible, like at session start.
      if (!this.stopping && this.run === null) this.run = this.launch(this.transcriptExists());
    });
  }

  /** The client answered an ask-gated call. */
  toolConfirmation(frame: ConfirmationFrame): void {
    this.answer(frame.tool_use_id, { kind: 'confirm', result: frame.result, message: frame.deny_message });
  }

  /** The client sent a custom tool's result. */
  customToolResult(frame: CustomResultFrame): void {
    this.answer(frame.custom_tool_use_id, { kind: 'custom', content: frame.content, isError: frame.is_error });
  }

  private answer(eventId: string, answer: Exclude<ActionAnswer, { kind: 'cancelled' }>): void {
    const events = this.gate.answer(eventId, answer);
    if (events === null) {
      this.log.warn('answer for a tool call that is not waiting; ignored', { event_id: eventId, kind: answer.kind });
      return;
    }
    this.log.info('tool call answered', { event_id: eventId, kind: answer.kind });
    void this.emitAll(events);
  }

  /** The CLI waits for the client's answer to the call `tooluId`. */
  private waitForClient(tooluId: string, kind: 'confirm' | 'custom', signal: AbortSignal): Promise<ActionAnswer> {
    const answer = this.gate.wait(tooluId, kind, signal);
    void this.emitAll(this.gate.check());
    return answer;
  }

  /** Interrupts the running turn; a no-op when idle. */
  interrupt(): void {
    if (this.stopping || !this.mapper.requestInterrupt()) {
      this.log.debug('interrupt while idle: nothing to do');
      return;
    }
    const run = this.run;
    if (!run?.query) {
      // The CLI has not been handed the message yet: take it back and end the turn here.
      run?.input.clear();
      void this.emitAll(this.mapper.abortTurn({ kind: 'interrupted' }));
      return;
    }
    this.log.info('interrupting');
    this.watchdog = setTimeout(() => void this.interruptTimedOut(run), this.timings.interruptWatchdogMs);
    run.query.interrupt().then(
      (receipt) => this.log.debug('interrupt acknowledged', { receipt }),
      (err: unknown) => this.log.warn('interrupt failed', { err }),
    );
    // Calls parked on the client are refused so the CLI can end the turn.
    this.gate.reset('the turn was interrupted');
  }

  /** Ends the query, kills the CLI and every process of the session, and waits for pending emits. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.clearWatchdog();
      this.gate.reset('the session is stopping');
      const run = this.run;
      this.run = null;
      await this.cleanup;
      if (run) await this.killRun(run, this.timings.stopGraceMs, true);
      else await this.deps.reaper.reap(this.marker(null), 0);
      rmSync(this.tmpDir, { recursive: true, force: true });
      await this.chain;
    })();
    return this.stopping;
  }

  private launch(resume: boolean): Run {
    const run: Run = {
      input: new PushQueue(),
      abort: new AbortController(),
      query: null,
      child: null,
      loop: Promise.resolve(),
    };
    run.loop = this.drive(run, resume, this.cleanup);
    return run;
  }

  /** Starts the query for `run` (once `previous` is cleaned up) and consumes its messages until it ends. */
  private async drive(run: Run, resume: boolean, previous: Promise<void>): Promise<void> {
    let failure: unknown = null;
    try {
      const [sdk, baseUrl, proxyUrl, customTools] = await Promise.all([
        this.deps.loadSdk(),
        this.deps.modelBaseUrl(),
        this.deps.proxyUrl(),
        // The MCP server library is loaded only by agents with custom tools: it is most of the runner's code.
        this.config.custom_tools.length > 0 ? import('./custom-tools.js') : undefined,
        previous,
      ]);
      if (run.abort.signal.aborted) return;
      mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
      const options = buildQueryOptions({
        sessionId: this.deps.sessionId,
        config: this.config,
        baseUrl,
        proxyUrl,
        path: this.deps.path,
        resume,
        tmpDir: this.tmpDir,
        abortController: run.abort,
        preToolUse: permissionHooks({
          config: this.config,
          confirm: (toolu, signal) => this.waitForClient(toolu, 'confirm', signal),
        }),
        ...(customTools !== undefined
          ? {
              customTools: customTools.customToolServer({
                tools: this.config.custom_tools,
                result: (toolu, signal) => {
                  const id = toolu ?? this.gate.unclaimedCustom();
                  if (id === undefined)
                    return Promise.resolve({ kind: 'cancelled', reason: 'no such call is pending' });
                  return this.waitForClient(id, 'custom', signal);
                },
              }),
            }
          : {}),
        spawnClaudeCodeProcess: createCliSpawner({ log: this.log, onSpawn: (child) => (run.child = child) }),
      });
      this.log.info('starting query', { resume, model: this.config.model });
      run.query = sdk.query({ prompt: run.input, options });
      // Readiness is a hint for berthd (sandbox state 'ready'); a query that fails to initialise reports below.
      run.query.initializationResult().then(
        () => {
          if (this.run === run && !this.stopping) this.deps.onReady();
        },
        () => undefined,
      );
      for await (const msg of run.query) await this.onMessage(run, msg);
    } catch (err) {
      failure = err;
    }
    // A run that was replaced or stopped on purpose ends quietly; only an unexpected end is a crash.
    if (this.run === run && !this.stopping) await this.onRunDied(run, failure);
  }

  private async onMessage(run: Run, msg: SDKMessage): Promise<void> {
    this.logMessage(msg);
    // After stop_session nothing more is reported: session_stopped must be the session's last word.
    if (this.stopping) return;
    if (msg.type === 'result' && this.watchdog) {
      // The interrupted turn ended. Kill what its tools left behind before reporting idle, so "idle" means
      // "nothing of that turn still runs".
      this.clearWatchdog();
      await this.deps.reaper.reap(this.marker(run));
    }
    if (msg.type === 'system' && msg.subtype === 'init' && msg.mcp_servers.some((s) => s.status === 'failed')) {
      // The init names failed servers but not why; the status call does (auth or connection).
      const statuses = await run.query?.mcpServerStatus().catch(() => []);
      this.mapper.setMcpErrors(new Map((statuses ?? []).flatMap((s) => (s.error ? [[s.name, s.error]] : []))));
    }
    // A result ends the turn: nothing of it waits for the client any more.
    if (msg.type === 'result') this.gate.reset('the turn ended');
    await this.emitAll([...this.mapper.map(msg), ...this.gate.check()]);
    if (this.restartAfterTurn && !this.mapper.isRunning) this.restart();
  }

  private async onRunDied(run: Run, failure: unknown): Promise<void> {
    const message = failure instanceof Error ? failure.message : 'the agent process ended';
    this.log.error('query ended unexpectedly; the next user message restarts it', { err: failure });
    const events = this.mapper.abortTurn({
      kind: 'crashed',
      message: `The agent process stopped unexpectedly (${message.slice(0, 1000)}). Send another message to resume the session.`,
    });
    // Not awaiting the loop: this runs inside it.
    await this.retire(run, events, 0, false);
  }

  /** The interrupted turn did not end in time: end it here and replace the CLI (SIGKILL, no grace: 3 s budget). */
  private async interruptTimedOut(run: Run): Promise<void> {
    this.watchdog = null;
    if (this.run !== run || this.stopping) return;
    this.log.warn('the CLI did not end the interrupted turn in time; restarting it');
    await this.retire(run, this.mapper.abortTurn({ kind: 'interrupted' }), 0, false);
  }

  /**
   * Takes `run` out of service: the next user message starts a new run, which waits for this cleanup. `events`
   * (the end of the turn) are queued now, so they keep their place before anything a later message causes, but
   * leave only after the cleanup: "idle" means nothing of that turn still runs.
   */
  private async retire(run: Run, events: RunnerEvent[], graceMs: number, awaitLoop: boolean): Promise<void> {
    this.run = null;
    this.gate.reset('the agent process was restarted');
    this.clearWatchdog();
    const cleanup = this.killRun(run, graceMs, awaitLoop);
    this.cleanup = cleanup;
    this.chain = this.chain.then(() => cleanup);
    await this.emitAll(events);
  }

  /**
   * Closes the query, gives the CLI `graceMs` to exit (stdin EOF is its signal) before SIGKILL, then reaps
   * whatever else of the session is left. Never rejects.
   */
  private async killRun(run: Run, graceMs: number, awaitLoop: boolean): Promise<void> {
    try {
      run.input.end();
      run.abort.abort();
      const child = run.child;
      if (child && !(await waitForExit(child, graceMs))) {
        this.log.warn('cli did not exit in time; killing it', { pid: child.pid });
        child.kill('SIGKILL');
        await waitForExit(child, 1000);
      }
      // The loop ends once the SDK notices the exit; bounded because a wedged SDK must not wedge stop.
      if (awaitLoop) await Promise.race([run.loop, new Promise((r) => setTimeout(r, 1000))]);
      await this.deps.reaper.reap(this.marker(run), 100);
    } catch (err) {
      this.log.error('cleaning up the agent process failed', { err });
    }
  }

  private marker(run: Run | null): { cliPid: number | null; marker: { name: string; value: string } } {
    return { cliPid: run?.child?.pid ?? null, marker: { name: SESSION_MARKER_ENV, value: this.deps.sessionId } };
  }

  private emitAll(events: RunnerEvent[]): Promise<void> {
    for (const e of events) {
      this.chain = this.chain
        .then(() => this.deps.emit(e))
        .catch((err: unknown) => this.log.error('emit failed', { err }));
    }
    return this.chain;
  }

  private clearWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  /** Whether the SDK transcript of this session exists (`<config_dir>/projects/<cwd slug>/<id>.jsonl`). */
  private transcriptExists(): boolean {
    const root = `${this.config.config_dir}/projects`;
    try {
      return readdirSync(root).some((dir) => existsSync(`${root}/${dir}/${this.config.sdk_session_id}.jsonl`));
    } catch {
      return false;
    }
  }

  private logMessage(msg: SDKMessage): void {
    if (msg.type === 'stream_event') return;
    const sub = 'subtype' in msg ? msg.subtype : undefined;
    if (msg.type === 'system' && sub === 'api_retry') this.log.warn('model request failed; the CLI retries', { msg });
    else if (msg.type === 'result')
      this.log.info('turn result', { subtype: sub, is_error: msg.is_error, num_turns: msg.num_turns });
    else this.log.debug('sdk message', { type: msg.type, subtype: sub });
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
