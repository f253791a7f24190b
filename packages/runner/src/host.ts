import {
  SANDBOX_PATHS,
  BerthdFrameSchema,
  MAX_FRAME_BYTES,
  RunnerEventSchema,
  type BerthdFrame,
  type RunnerEvent,
} from '@berth/protocol';
import type { ControlChannel } from './control/channel.js';
import type { Logger, SecretScrubber } from './log.js';
import { fitEvent } from './mapper/fit.js';
import type { ProcessReaper } from './proc/reaper.js';
import { prepareRepository } from './repository.js';
import { openTunnel, type TunnelDeps } from './tunnel.js';
import { AgentSession, type SdkApi, type SessionTimings } from './session/session.js';

/** What the {@link SessionHost} is built from (wired in core.ts). */
export interface SessionHostDeps {
  channel: ControlChannel;
  log: Logger;
  scrubber: SecretScrubber;
  reaper: ProcessReaper;
  loadSdk: () => Promise<SdkApi>;
  modelBaseUrl: () => Promise<string>;
  /** The egress forwarder's URL: the CLI's HTTP_PROXY and HTTPS_PROXY. */
  proxyUrl: () => Promise<string>;
  /** PATH for the CLIs. */
  path: string;
  timings?: SessionTimings;
  /** Preview tunnels (absent: `open_tunnel` frames are logged and dropped). */
  tunnels?: TunnelDeps;
}

/** Dispatches validated berthd frames to the sessions this runner hosts. */
export class SessionHost {
  private readonly sessions = new Map<string, AgentSession>();

  constructor(private readonly deps: SessionHostDeps) {}

  /** One line from the control socket: parsed, validated, dispatched. Invalid frames are logged and ignored. */
  handleLine(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.deps.log.warn('control frame is not JSON; ignored', { bytes: line.length });
      return;
    }
    const parsed = BerthdFrameSchema.safeParse(json);
    if (!parsed.success) {
      const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
      this.deps.log.warn('invalid control frame; ignored', { type, issues: parsed.error.issues.slice(0, 5) });
      return;
    }
    this.handleFrame(parsed.data);
  }

  handleFrame(frame: BerthdFrame): void {
    const { channel, log } = this.deps;
    switch (frame.type) {
      case 'welcome':
        channel.onWelcome(frame.sessions);
        return;
      case 'ack':
        channel.onAck(frame.session_id, frame.seq);
        return;
      case 'start_session':
        this.startSession(frame.session_id, frame.config);
        return;
      case 'user_message':
      case 'interrupt':
      case 'tool_confirmation':
      case 'custom_tool_result':
      case 'reconfigure': {
        const session = this.sessions.get(frame.session_id);
        if (!session) {
          log.warn('frame for a session this runner does not host; ignored', {
            type: frame.type,
            session_id: frame.session_id,
          });
          return;
        }
        if (frame.type === 'user_message') session.userMessage(frame);
        else if (frame.type === 'tool_confirmation') session.toolConfirmation(frame);
        else if (frame.type === 'custom_tool_result') session.customToolResult(frame);
        else if (frame.type === 'reconfigure') session.reconfigure(frame.config);
        else session.interrupt();
        return;
      }
      case 'stop_session':
        void this.stopSession(frame.session_id);
        return;
      case 'prepare_repository':
        void this.prepareRepository(frame);
        return;
      case 'open_tunnel':
        if (!this.deps.tunnels) log.warn('open_tunnel without a tunnel socket; ignored', { port: frame.port });
        else void openTunnel(frame, this.deps.tunnels).catch((err: unknown) => log.warn('tunnel failed', { err }));
        return;
    }
  }

  /** Stops every session (SIGTERM). */
  async shutdown(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.stopSession(id)));
  }

  private startSession(sessionId: string, config: Extract<BerthdFrame, { type: 'start_session' }>['config']): void {
    const log = this.deps.log.child({ session_id: sessionId });
    if (this.sessions.has(sessionId)) {
      log.warn('start_session for a session already hosted; ignored');
      return;
    }
    this.deps.scrubber.add(config.gateway_token);
    this.deps.channel.openSession(sessionId);
    const session = new AgentSession({
      sessionId,
      config,
      log,
      emit: (event) => this.emit(sessionId, event, log),
      onReady: () => {
        log.info('agent process ready');
        this.deps.channel.sessionReady(sessionId);
      },
      loadSdk: this.deps.loadSdk,
      modelBaseUrl: this.deps.modelBaseUrl,
      proxyUrl: this.deps.proxyUrl,
      reaper: this.deps.reaper,
      path: this.deps.path,
      ...(this.deps.timings ? { timings: this.deps.timings } : {}),
    });
    this.sessions.set(sessionId, session);
    log.info('session started', { model: config.model, resume: config.resume, cwd: config.cwd });
    session.start();
  }

  /** Clones a repository before the session starts (berthd sends start_session after every answer was ok). */
  private async prepareRepository(frame: Extract<BerthdFrame, { type: 'prepare_repository' }>): Promise<void> {
    const log = this.deps.log.child({ session_id: frame.session_id });
    log.info('preparing repository', { path: frame.path, checkout: frame.checkout?.type ?? 'default' });
    const answer = await prepareRepository(frame, {
      proxyUrl: await this.deps.proxyUrl(),
      path: this.deps.path,
      home: SANDBOX_PATHS.home,
      log,
    });
    if (!answer.ok) log.warn('repository preparation failed', { phase: answer.phase, message: answer.message });
    if (!this.deps.channel.repositoryPrepared(answer)) log.warn('repository answer could not be sent');
  }

  private async stopSession(sessionId: string): Promise<void> {
    const session = this.sessions.get(sessionId);
    // Stop is idempotent: an unknown session is already stopped, and berthd still wants the answer.
    if (session) await session.stop();
    this.sessions.delete(sessionId);
    this.deps.channel.sessionStopped(sessionId);
    this.deps.log.info('session stopped', { session_id: sessionId });
  }

  /** Fits, validates and sends one event, after waiting for outbox room. Never throws. */
  private async emit(sessionId: string, event: RunnerEvent, log: Logger): Promise<void> {
    const fitted = fitEvent(event, MAX_FRAME_BYTES);
    const parsed = RunnerEventSchema.safeParse(fitted);
    if (!parsed.success) {
      // A mapper bug. Sending it would only make berthd reject it; tests assert this line never appears.
      log.error('event failed schema validation; dropped', {
        type: event.type,
        issues: parsed.error.issues.slice(0, 5),
      });
      return;
    }
    await this.deps.channel.waitForRoom();
    try {
      this.deps.channel.sendEvent(sessionId, fitted);
    } catch (err) {
      log.error('event could not be framed; dropped', { type: event.type, err });
    }
  }
}
