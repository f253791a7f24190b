import { newId, type RunnerEvent, type RunnerFrame } from '@berth/protocol';
import type { SandboxDriver } from '../drivers/driver.js';
import type { Logger } from '../logger.js';
import type { SessionObserver } from '../observability/observer.js';
import type { JsonObject, SessionRecord, SessionStatus, Store } from '../store/store.js';
import type { EventInput, EventLog, WireEvent } from './event-log.js';
import type { SessionGuard } from './guard.js';
import type { PendingActions } from './pending-actions.js';
import type { SessionRuntime } from './runtime.js';
import { memoryKillError, turnTimeoutError } from './session-errors.js';

/** What the status keeper needs of the session service (it owns the live sandboxes). */
export interface StatusHost {
  runtime(sessionId: string): SessionRuntime | undefined;
  driver(sessionId: string): SandboxDriver | undefined;
  /** Stops and destroys the session's sandbox. */
  stopRuntime(sessionId: string): Promise<void>;
}

/**
 * Keeps a session's stored `status` and `stats` in step with its history, and writes the events berthd itself adds:
 * failures (session.error + status_terminated), turn timeouts, memory kills and a normal end.
 */
export class SessionStatusKeeper {
  /** When each running session last went running, for `stats.active_seconds`. */
  private readonly runningSince = new Map<string, number>();
  /** Memory kills already reported per session. */
  private readonly oomReported = new Map<string, number>();

  constructor(
    private readonly host: StatusHost,
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly pending: PendingActions,
    private readonly guard: SessionGuard,
    private readonly logger: Logger,
    private readonly observer: SessionObserver | undefined,
  ) {}

  /** A re-adopted session was mid-turn when berthd stopped: its active time counts from now. */
  running(sessionId: string): void {
    this.runningSince.set(sessionId, Date.now());
  }

  /** The live active time of a session, including the turn in progress. */
  activeSeconds(s: SessionRecord): number {
    const base = typeof s.stats.active_seconds === 'number' ? s.stats.active_seconds : 0;
    const since = this.runningSince.get(s.id);
    return base + (since ? (Date.now() - since) / 1000 : 0);
  }

  /** The session ended normally (an ephemeral task is done): status_terminated, and its sandbox goes. */
  async terminate(sessionId: string): Promise<void> {
    // The sandbox goes first: a client that sees the session ended finds nothing of it left running.
    await this.host.stopRuntime(sessionId);
    await this.events.append(sessionId, [{ id: newId('event'), type: 'session.status_terminated' }]);
    await this.applyStatus(sessionId, 'session.status_terminated');
    await this.store.updateSession(sessionId, { sandbox_state: 'stopped' });
  }

  /** Persists a runner event and applies what it means. */
  async onRunnerEvent(sessionId: string, frame: Extract<RunnerFrame, { type: 'event' }>): Promise<void> {
    const stored = await this.events.append(sessionId, [frame.event as RunnerEvent & JsonObject], frame.seq);
    for (const r of stored) {
      this.pending.observe(sessionId, r.body as WireEvent);
      await this.applyStatus(sessionId, r.type);
      if (r.type === 'agent.tool_result' || r.type === 'agent.mcp_tool_result') await this.reportMemoryKills(sessionId);
    }
  }

  /** Tool processes the kernel killed at the memory limit: a `session.error` naming it (the agent sees a failed tool). */
  async reportMemoryKills(sessionId: string): Promise<void> {
    const event = await this.newMemoryKills(sessionId);
    if (event) await this.events.append(sessionId, [event]);
  }

  /** The error event for memory kills not reported yet (marking them reported), or undefined. */
  private async newMemoryKills(sessionId: string): Promise<EventInput | undefined> {
    const rt = this.host.runtime(sessionId);
    const driver = this.host.driver(sessionId);
    if (!rt || !driver?.oomKills) return undefined;
    const kills = (await driver.oomKills(rt.sandboxId)) ?? 0;
    const seen = this.oomReported.get(sessionId) ?? 0;
    if (kills <= seen) return undefined;
    this.oomReported.set(sessionId, kills);
    const s = await this.store.getSession(sessionId);
    return memoryKillError(kills - seen, (s?.berth.resources as { memory_mib?: number } | undefined)?.memory_mib);
  }

  /** The sandbox is gone; say whether its memory limit is why (one terminal error, not a second one for memory). */
  async lost(sessionId: string, reason: string): Promise<void> {
    const memory = await this.newMemoryKills(sessionId).catch(() => undefined);
    const why = memory ? (memory.error as { message: string }).message.replace(/\.$/, '') : reason;
    await this.fail(sessionId, `The session's sandbox stopped unexpectedly: ${why}.`);
  }

  /** Keeps `status` and `stats` in step with the status events in the history. */
  async applyStatus(sessionId: string, type: string): Promise<void> {
    const next: Partial<Record<string, SessionStatus>> = {
      'session.status_running': 'running',
      'session.status_idle': 'idle',
      'session.status_terminated': 'terminated',
    };
    const status = next[type];
    if (!status) return;
    this.observer?.statusChanged(sessionId, status);
    const s = await this.store.getSession(sessionId);
    if (!s) return;
    const stats: JsonObject = { ...s.stats };
    if (status === 'running') this.guard.turnStarted(sessionId);
    else if (status === 'idle') this.guard.turnEnded(sessionId);
    else this.guard.forget(sessionId);
    if (status === 'running') {
      if (!this.runningSince.has(sessionId)) this.runningSince.set(sessionId, Date.now());
    } else {
      stats.active_seconds = this.activeSeconds(s);
      this.runningSince.delete(sessionId);
    }
    await this.store.updateSession(sessionId, { status, stats });
  }

  /**
   * The running turn passed its wall-clock limit: it is interrupted like a `user.interrupt`, after a session.error
   * that says why; the session then goes idle and takes new messages.
   */
  async turnTimedOut(sessionId: string, limitS: number): Promise<void> {
    const runtime = this.host.runtime(sessionId);
    if (!runtime) return;
    this.logger.info({ sessionId, limitS }, 'turn hit its wall-clock limit; interrupting');
    await this.events.append(sessionId, [turnTimeoutError(limitS)]).catch((err: unknown) => {
      this.logger.warn({ err, sessionId }, 'could not record the turn timeout');
    });
    runtime.dropQueuedMessages();
    runtime.send({ type: 'interrupt', session_id: sessionId });
  }

  /**
   * Records a terminal failure: session.error, then status_terminated, and stops the sandbox. `limit`: a lifecycle
   * limit ended the session on purpose (logged at info, not as an error).
   */
  async fail(
    sessionId: string,
    message: string,
    why: 'failure' | 'limit' = 'failure',
    /** The error type and its extra fields when not `unknown_error` (e.g. a repository error). */
    error: { type: string; repository_url?: string } = { type: 'unknown_error' },
  ): Promise<void> {
    if (why === 'limit') this.logger.info({ sessionId, message }, 'session stopped by a lifecycle limit');
    else this.logger.error({ sessionId, message }, 'session failed');
    try {
      await this.events.append(sessionId, [
        {
          id: newId('event'),
          type: 'session.error',
          error: { ...error, message, retry_status: { type: 'terminal' } },
        },
        { id: newId('event'), type: 'session.status_terminated' },
      ]);
      await this.applyStatus(sessionId, 'session.status_terminated');
      await this.store.updateSession(sessionId, { sandbox_state: 'stopped' });
      await this.host.stopRuntime(sessionId);
    } catch (err) {
      // The session may have been deleted meanwhile; nothing is left to record.
      this.logger.warn({ err, sessionId }, 'could not record the session failure');
    }
  }
}
