import type { RunnerEvent, RunnerFrame } from '@berth/protocol';
import type { Logger } from '../log.js';
import { ControlClient, type Backoff } from './client.js';
import { encodeFrame } from '@berth/protocol/wire';
import type { Outbox } from './outbox.js';

/** Identity reported in every `hello`. */
export interface HelloInfo {
  sandboxId: string;
  runnerVersion: string;
  pid: number;
}

/** Options for {@link ControlChannel}. */
export interface ControlChannelOptions {
  socketPath: string;
  maxFrameBytes: number;
  outbox: Outbox;
  info: HelloInfo;
  log: Logger;
  backoff?: Backoff;
}

/**
 * The delivery half of the control protocol: sends `hello` on every connect, holds events until `welcome`,
 * then re-sends what berthd has not acked and streams new events as they come. Incoming frames are validated
 * by the caller (see core.ts) and routed to {@link onWelcome}/{@link onAck}; this file stays free of zod so it
 * can run before the runner core has loaded.
 */
export class ControlChannel {
  readonly client: ControlClient;
  private welcomed = false;
  /** Stopped sessions whose `session_stopped` is (re-)sent after the next welcome. */
  private readonly stoppedToAnnounce = new Set<string>();
  /** Sessions whose agent process is initialised; `session_ready` is repeated after every welcome. */
  private readonly readySessions = new Set<string>();

  constructor(private readonly opts: ControlChannelOptions) {
    this.client = new ControlClient({
      socketPath: opts.socketPath,
      maxFrameBytes: opts.maxFrameBytes,
      log: opts.log,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
      onConnect: () => this.sendHello(),
      onDisconnect: () => {
        this.welcomed = false;
      },
    });
  }

  /** Connects (and keeps reconnecting). */
  start(): void {
    this.client.start();
  }

  /** True once berthd has answered the current connection's hello. */
  get ready(): boolean {
    return this.welcomed && this.client.connected;
  }

  /** berthd's `welcome`: re-send everything it has not persisted, in order, then go live. */
  onWelcome(sessions: ReadonlyArray<{ session_id: string; acked_seq: number }>): void {
    const resend = this.opts.outbox.applyWelcome(sessions);
    if (resend.length > 0) this.opts.log.info('re-sending unacked events', { count: resend.length });
    for (const entry of resend) this.client.write(entry.line);
    this.welcomed = true;
    // session_stopped has no ack: a stop written just before the connection died would be lost, so it is sent
    // once more after the next welcome. Sessions berthd names but this runner does not host are stopped too.
    const hosted = new Set(this.opts.outbox.hostedSessions().map((h) => h.session_id));
    for (const s of sessions) if (!hosted.has(s.session_id)) this.stoppedToAnnounce.add(s.session_id);
    const announce = [...this.stoppedToAnnounce];
    this.stoppedToAnnounce.clear();
    for (const id of announce) this.announceStopped(id);
    for (const id of this.readySessions) this.announceReady(id);
  }

  onAck(sessionId: string, seq: number): void {
    this.opts.outbox.ack(sessionId, seq);
  }

  /** Numbers, retains and (when live) sends one event. Call only with schema-valid, size-checked events. */
  sendEvent(sessionId: string, event: RunnerEvent): void {
    const entry = this.opts.outbox.push(sessionId, event);
    if (this.ready) this.client.write(entry.line);
  }

  /** Resolves when the outbox has room; emitters await it to apply back-pressure. */
  waitForRoom(): Promise<void> {
    return this.opts.outbox.waitForRoom();
  }

  /** Starts hosting a session (it is listed in hello from now on). */
  openSession(sessionId: string): void {
    this.opts.outbox.open(sessionId);
  }

  /**
   * The session is stopped: it leaves hello, and `session_stopped` is sent now (if live) and after the next
   * welcome (berthd treats it as idempotent). Its unacked events are still re-sent until acked.
   */
  sessionStopped(sessionId: string): void {
    this.readySessions.delete(sessionId);
    this.opts.outbox.close(sessionId);
    this.stoppedToAnnounce.add(sessionId);
    if (this.ready) this.announceStopped(sessionId);
  }

  /** The session's CLI is initialised: tell berthd now (if live) and after every later welcome. */
  sessionReady(sessionId: string): void {
    this.readySessions.add(sessionId);
    if (this.ready) this.announceReady(sessionId);
  }

  /**
   * Answers a `prepare_repository`. Sent once, not re-sent after a reconnect: berthd gives up on a request whose
   * answer was lost (its own timeout) and ends the session with a clone error.
   */
  repositoryPrepared(frame: Extract<RunnerFrame, { type: 'repository_prepared' }>): boolean {
    return this.client.write(encodeFrame(frame, this.opts.maxFrameBytes));
  }

  /** Flushes and closes the connection for good (runner shutdown). */
  close(): Promise<void> {
    return this.client.close();
  }

  private announceStopped(sessionId: string): void {
    const line = encodeFrame({ type: 'session_stopped', session_id: sessionId }, this.opts.maxFrameBytes);
    if (!this.client.write(line)) this.stoppedToAnnounce.add(sessionId);
  }

  private announceReady(sessionId: string): void {
    this.client.write(encodeFrame({ type: 'session_ready', session_id: sessionId }, this.opts.maxFrameBytes));
  }

  private sendHello(): void {
    this.welcomed = false;
    const hello = {
      type: 'hello',
      sandbox_id: this.opts.info.sandboxId,
      runner_version: this.opts.info.runnerVersion,
      pid: this.opts.info.pid,
      sessions: this.opts.outbox.hostedSessions(),
    };
    this.client.write(encodeFrame(hello, this.opts.maxFrameBytes));
    this.opts.log.debug('hello sent', { sessions: hello.sessions.length });
  }
}
