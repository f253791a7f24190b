import { randomUUID } from 'node:crypto';
import { newId } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import type { ArtifactStore } from '../blobs/artifacts.js';
import type { SnapshotStore } from '../blobs/snapshots.js';
import type { ReadOnlyFile, SandboxDriver } from '../drivers/driver.js';
import { ApiError, notFound } from '../errors.js';
import { hashToken } from '../gateway/gateway.js';
import { storedLifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import type { SessionObserver } from '../observability/observer.js';
import { gitResourcesOf, type GitRepositoryResource } from '../session-resources/git.js';
import { RepositoryTokens } from '../session-resources/tokens.js';
import type { JsonObject, SessionRecord, Store } from '../store/store.js';
import type { VaultService } from '../vaults/service.js';
import { Admission } from './admission.js';
import type { EventLog, WireEvent } from './event-log.js';
import { SessionGuard, type Timers } from './guard.js';
import { answersIn, frameFor, withFileBytes, type InboundEvent } from './inbound.js';
import { SessionLauncher } from './launcher.js';
import { LiveSandboxes } from './live.js';
import { PendingActions } from './pending-actions.js';
import type { RuntimeDeps } from './runtime.js';
import { idleMessage, lifetimeMessage } from './session-errors.js';
import { newGatewayToken, SessionSetup } from './setup.js';
import { SpareFactory } from './spares.js';
import { refuseUnshareable, SHARED_FIELD, SharedSandboxes } from './shared.js';
import { SessionStatusKeeper } from './status.js';
import { SessionTransitions } from './transitions.js';
import { WarmPool } from './warm-pool.js';

export type { InboundEvent } from './inbound.js';

export interface SessionServiceOptions {
  maxTurns: number;
  modelMaxRetries: number;
  /** Extra environment for every session's CLI (e.g. the CA trust variables). */
  sessionEnv?: Record<string, string>;
  /** Vault credentials, injected at egress for sessions created with `vault_ids`. */
  vaults?: VaultService;
  /** The read-only files (file resources) a session's sandbox mounts. */
  sandboxFiles?: (session: SessionRecord) => ReadOnlyFile[];
  /** Most live sandboxes at once (0: no limit). */
  maxSessions?: number;
  /** Resolves a user message's `file` sources into the bytes the model needs (the Files API's blobs). */
  resolveContent?: <T>(content: T[]) => Promise<T[]>;
  /** Timers of the lifecycle guard (tests inject their own). */
  timers?: Timers;
  /** Told about sessions, turns and messages (metrics, traces). */
  observer?: SessionObserver;
  /** Where hibernated sessions' files go (hybrid); without it, sessions cannot hibernate. */
  snapshots?: SnapshotStore;
  /** Where ephemeral sessions' kept paths go. */
  artifacts?: ArtifactStore;
}

/**
 * Session lifecycle: starts a sandbox per session, relays user events to its runner, persists what the runner
 * emits, and tears everything down on delete or archive. The API layer validates input; this layer owns state.
 */
export class SessionService {
  /** The concurrency limits, with every live (or starting) sandbox's environment. */
  private readonly admission: Admission;
  private readonly live: LiveSandboxes;
  private readonly guard: SessionGuard;
  /** Tool calls waiting for the client, per session. */
  private readonly pending = new PendingActions();
  /** Repository tokens (memory only). */
  private readonly repoTokens = new RepositoryTokens();
  /** Which live sessions share which sandbox (lifecycle `shared`). */
  private readonly shared = new SharedSandboxes();

  private readonly setup: SessionSetup;
  private readonly status: SessionStatusKeeper;
  private readonly transitions: SessionTransitions;
  private readonly spares: SpareFactory;
  private readonly launcher: SessionLauncher;
  /** Ready sandboxes per environment (`berth.warm_pool`). */
  readonly pool: WarmPool;

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    /** `driver` is the default driver; `drivers` every enabled one by name, picked per session by `berth.driver`. */
    private readonly runtimeDeps: RuntimeDeps & { drivers?: ReadonlyMap<string, SandboxDriver> },
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: SessionServiceOptions,
  ) {
    this.admission = new Admission(opts.maxSessions ?? 0);
    this.live = new LiveSandboxes((id) => this.admission.release(id), logger, opts.observer);
    this.setup = new SessionSetup(store, runtimeDeps.driver, runtimeDeps.drivers, opts.vaults, logger);
    this.guard = new SessionGuard(
      {
        turnTimedOut: (id, s) => void this.status.turnTimedOut(id, s),
        lifetimeReached: (id, s) => void this.status.fail(id, lifetimeMessage(s), 'limit'),
        idleTimedOut: (id, s) => void this.status.fail(id, idleMessage(s), 'limit'),
        hibernateDue: (id) =>
          void this.transitions.hibernate(id).catch((err: unknown) => {
            this.logger.info({ err, sessionId: id }, 'hibernation skipped');
          }),
        taskDone: (id) =>
          void this.transitions.endTask(id).catch((err: unknown) => {
            this.logger.error({ err, sessionId: id }, 'ending the ephemeral session failed');
          }),
      },
      opts.timers,
    );
    this.status = new SessionStatusKeeper(
      {
        runtime: (id) => this.live.get(id),
        driver: (id) => this.live.driver(id),
        stopRuntime: (id) => this.stopRuntime(id),
      },
      store,
      events,
      this.pending,
      this.guard,
      logger,
      opts.observer,
    );
    this.transitions = new SessionTransitions(
      {
        runtime: (id) => this.live.get(id),
        busy: (id) => this.pending.has(id) || this.guard.messageWaiting(id),
        driverFor: (s) => this.setup.driverFor(s),
        detach: (id) => this.live.detach(id),
        teardown: (id, rt, opts) => this.live.teardown(id, rt, opts),
        relaunch: (s) => this.relaunch(s),
        fail: (id, message) => this.status.fail(id, message),
        terminate: (id) => this.status.terminate(id),
        hibernated: (id) => this.guard.hibernated(id),
      },
      store,
      events,
      logger,
      opts.snapshots,
      opts.artifacts,
    );
    this.spares = new SpareFactory(
      store,
      this.setup,
      runtimeDeps,
      (agent, token, sdk) => this.launcher.runConfigFor(agent, token, sdk, false, {}),
      logger.child({ component: 'warm-pool' }),
      (spare) => this.pool.lost(spare),
    );
    this.pool = new WarmPool(this.spares, logger.child({ component: 'warm-pool' }));
    this.launcher = new SessionLauncher({
      store,
      events,
      setup: this.setup,
      live: this.live,
      admission: this.admission,
      guard: this.guard,
      status: this.status,
      repoTokens: this.repoTokens,
      runtimeDeps,
      opts,
      logger,
      spares: this.spares,
      pool: this.pool,
      setSandboxState: (id, state) => this.setSandboxState(id, state),
    });
  }

  /** Hibernates an idle session (see {@link SessionTransitions.hibernate}); returns the record. */
  async hibernate(sessionId: string): Promise<SessionRecord> {
    const s = await this.load(sessionId);
    if (storedLifecycle(s.berth.lifecycle).pattern === 'shared')
      throw new ApiError(
        'invalid_request',
        `Session '${sessionId}' shares a running sandbox with other sessions (lifecycle 'shared') and cannot ` +
          "hibernate. Use lifecycle 'hybrid' for sessions that hibernate.",
      );
    await this.transitions.hibernate(sessionId);
    return this.load(sessionId);
  }

  /** Resumes a hibernated session now rather than on its next message; returns the record. */
  async resume(sessionId: string): Promise<SessionRecord> {
    const s = await this.load(sessionId);
    if (s.archived_at || s.status === 'terminated')
      throw new ApiError(
        'session_terminated',
        `Session '${sessionId}' has ended and cannot resume. Create a new session.`,
      );
    await this.transitions.ensureAwake(sessionId);
    return this.load(sessionId);
  }

  /** Persists a new session and starts its sandbox in the background. Returns the stored record. */
  async create(
    record: Omit<SessionRecord, 'gateway_token_hash' | 'sdk_session_id' | 'sandbox_id' | 'sandbox_state'>,
    limits: { envMaxSessions?: number } = {},
    /** Tokens of the record's github_repository resources, by resource id (never stored). */
    repositoryTokens: ReadonlyMap<string, string> = new Map(),
  ): Promise<SessionRecord> {
    const pattern = storedLifecycle(record.berth.lifecycle).pattern;
    if (pattern === 'shared') refuseUnshareable(this.setup.driverFor(record));
    if (pattern === 'hybrid' || storedLifecycle(record.berth.lifecycle).keep.length > 0) {
      const driver = this.setup.driverFor(record);
      if (!driver.capabilities.snapshot)
        throw new ApiError(
          'unsupported_feature',
          `The ${driver.name} driver cannot save a sandbox's files, which berth.lifecycle '${pattern}'` +
            `${pattern === 'ephemeral' ? ' with keep' : ''} needs. Use the bwrap driver, or another pattern.`,
        );
    }
    this.admission.admit(record.id, record.environment_id, limits.envMaxSessions);
    // A shared session joins a running sandbox; a spare is a sandbox of its own.
    const spare =
      pattern === 'shared'
        ? undefined
        : await this.launcher.spareFor(record).catch((err: unknown) => {
            this.logger.warn({ err }, 'warm pool lookup failed; starting a sandbox');
            return undefined;
          });
    if (spare) return this.launcher.createFromSpare(record, spare);
    try {
      for (const [rid, token] of repositoryTokens) this.repoTokens.set(record.id, rid, token);
      const token = newGatewayToken();
      // Chosen before any await, so concurrent creates of one environment agree on the sandbox they share.
      const berth = pattern === 'shared' ? { ...record.berth, [SHARED_FIELD]: this.shared.join(record) } : record.berth;
      const session: SessionRecord = {
        ...record,
        berth,
        gateway_token_hash: hashToken(token),
        sdk_session_id: randomUUID(),
        sandbox_id: newId('sandbox'),
        sandbox_state: 'starting',
      };
      // Before anything is stored: a credential that cannot be decrypted refuses the session (fail closed).
      const launch = await this.launcher.prepareLaunch(session, true);
      await this.store.createSession(session);
      this.events.announce('session.created', session);
      this.launcher.startRuntime(session, launch, { kind: 'create', token });
      return session;
    } catch (err) {
      if (!this.live.has(record.id)) {
        this.admission.release(record.id);
        this.repoTokens.forget(record.id);
        this.shared.leave(record.id);
      }
      throw err;
    }
  }

  /**
   * Takes over a session whose sandbox outlived an earlier berthd (start-up reconciliation). Resolves once its runner
   * has reconnected; a sandbox that does not answer ends the session with an error.
   */
  async adopt(session: SessionRecord): Promise<void> {
    this.admission.adopt(session.id, session.environment_id);
    this.shared.adopt(session);
    const launch = await this.launcher.prepareLaunch(session, false);
    const runtime = this.launcher.startRuntime(session, launch, { kind: 'adopt' });
    if (session.status === 'running') {
      this.status.running(session.id);
      this.guard.turnStarted(session.id);
    }
    for (const e of await this.events.history(session.id)) this.pending.observe(session.id, e);
    await runtime
      .adopt()
      .catch((err: unknown) =>
        this.status.fail(
          session.id,
          `berthd restarted and could not re-adopt the session's sandbox: ${(err as Error).message}`,
        ),
      );
  }

  /** The environment's warm pool size changed (or it was created, archived or deleted). */
  warmPoolChanged(environmentId: string, size: number): void {
    this.pool.configure(environmentId, size);
  }

  /**
   * Replaces a github_repository resource's token (`resources.update`): later fetches through the proxy use it.
   * Returns the updated resource; 404 when the session has no such repository resource.
   */
  async updateRepositoryToken(sessionId: string, resourceId: string, token: string): Promise<GitRepositoryResource> {
    const s = await this.load(sessionId);
    const current = gitResourcesOf(s.resources).find((r) => r.id === resourceId);
    if (!current) throw notFound('github_repository resource', resourceId);
    // Only a live session can use it; a stopped one keeps nothing.
    if (this.live.has(sessionId)) this.repoTokens.set(sessionId, resourceId, token);
    const updated: GitRepositoryResource = { ...current, updated_at: this.clock() };
    await this.store.updateSession(sessionId, {
      resources: s.resources.map((r) => (r === current ? updated : r)),
    });
    this.logger.info({ sessionId, resourceId }, 'repository token replaced');
    return updated;
  }

  /** A github_repository resource was deleted: its token goes (the clone stays in the workspace). */
  dropRepositoryToken(sessionId: string, resourceId: string): void {
    this.repoTokens.drop(sessionId, resourceId);
  }

  /**
   * Appends user events (each echoed into the history before anything acts on it) and hands them to the runner.
   * Returns the echoed events.
   */
  async send(sessionId: string, inbound: InboundEvent[]): Promise<WireEvent[]> {
    const s = await this.load(sessionId);
    if (s.archived_at)
      throw new ApiError('session_archived', `Session '${sessionId}' is archived and read-only. Create a new session.`);
    if (s.status === 'terminated') {
      throw new ApiError(
        'session_terminated',
        `Session '${sessionId}' has terminated and cannot take events. Create a new session.`,
      );
    }
    const answers = answersIn(inbound);
    // Checked and taken before the await, so two requests cannot both answer one call.
    this.pending.check(sessionId, answers);
    for (const a of answers) this.pending.resolve(sessionId, a.eventId);
    // Before any await: from now on the session is not idle (no hibernation or idle end may stop its agent).
    const messages = inbound.some((e) => e.type === 'user.message' || e.type === 'system.message');
    if (messages) this.guard.messageQueued(sessionId);
    let stored: Awaited<ReturnType<EventLog['append']>>;
    let toRunner: InboundEvent[];
    try {
      // Before anything is stored: an unknown file refuses the request; the history keeps the event as sent.
      toRunner = await withFileBytes(inbound, this.opts.resolveContent);
      // A hibernated session wakes up for a message: a fresh sandbox with its files and conversation.
      if (toRunner.some((e) => e.type !== 'user.interrupt')) await this.transitions.ensureAwake(sessionId);
      stored = await this.events.append(sessionId, inbound);
    } catch (err) {
      // Nothing was sent: an idle session's clocks start again.
      if (messages && s.status !== 'running') this.guard.turnEnded(sessionId);
      throw err;
    }
    const runtime = this.live.get(sessionId);
    for (const e of toRunner) {
      if (e.type === 'user.interrupt') runtime?.dropQueuedMessages();
      if (e.type === 'user.message' || e.type === 'system.message') this.opts.observer?.messageSent(sessionId);
      runtime?.send(frameFor(sessionId, e));
    }
    return stored.map((r) => r.body as WireEvent);
  }

  /**
   * Gives an idle session a new agent snapshot (tools, MCP servers): its agent process restarts with it and resumes
   * the conversation, and its egress policy follows the new MCP servers. The caller stores the snapshot.
   */
  async reconfigure(sessionId: string, agent: JsonObject): Promise<void> {
    const s = await this.load(sessionId);
    if (s.status === 'running' || this.pending.has(sessionId)) {
      throw new ApiError(
        'session_busy',
        `Session '${sessionId}' is running or waits for tool confirmations or results; agent.tools and ` +
          'agent.mcp_servers change only while it is idle. Wait for session.status_idle (or answer or interrupt), then retry.',
      );
    }
    const runtime = this.live.get(sessionId);
    if (!runtime) return;
    const policy = await this.setup.policyFor(s, agent);
    let token = runtime.config?.gateway_token;
    if (token === undefined) {
      // A re-adopted sandbox: berthd never kept its token, so the restarted agent gets a new one.
      token = newGatewayToken();
      runtime.acceptToken(hashToken(token));
      await this.store.updateSession(sessionId, { gateway_token_hash: hashToken(token) });
    }
    const env = runtime.config?.env ?? { ...this.opts.sessionEnv, ...(await this.setup.injectorFor(s))?.env() };
    runtime.reconfigure(this.launcher.runConfigFor(agent, token, s.sdk_session_id, true, env), policy);
  }

  /** Starts a hibernated session's new sandbox, restored from its snapshot (see {@link SessionTransitions}). */
  async relaunch(s: SessionRecord): Promise<void> {
    this.admission.admit(s.id, s.environment_id, await this.envMaxSessions(s.environment_id));
    try {
      const token = newGatewayToken();
      const patch = { gateway_token_hash: hashToken(token), sandbox_id: newId('sandbox'), sandbox_state: 'resuming' };
      const launch = await this.launcher.prepareLaunch(s, false);
      const session = (await this.store.updateSession(s.id, patch))!;
      this.launcher.startRuntime(session, launch, { kind: 'resume', token });
      this.logger.info({ sessionId: s.id, sandboxId: patch.sandbox_id }, 'resuming a hibernated session');
    } catch (err) {
      if (!this.live.has(s.id)) this.admission.release(s.id);
      throw err;
    }
  }

  private async envMaxSessions(environmentId: string): Promise<number | undefined> {
    const max = (await this.store.getEnvironment(environmentId))?.berth.max_sessions;
    return typeof max === 'number' ? max : undefined;
  }

  /** Stops the sandbox and marks the session archived (read-only). */
  async archive(sessionId: string): Promise<SessionRecord> {
    const s = await this.load(sessionId);
    if (s.archived_at) return s;
    await this.stopRuntime(sessionId);
    const now = this.clock();
    const archived = (await this.store.updateSession(sessionId, {
      archived_at: now,
      sandbox_state: 'stopped',
      status: s.status === 'running' ? 'idle' : s.status,
    }))!;
    this.events.announce('session.archived', archived);
    return archived;
  }

  /** Stops the sandbox, tells open streams, and deletes the session with its history. */
  async delete(sessionId: string): Promise<void> {
    const s = await this.load(sessionId);
    await this.transitions.settled(sessionId);
    await this.stopRuntime(sessionId);
    await this.opts.snapshots?.drop(sessionId);
    await this.opts.artifacts?.drop(sessionId);
    await this.events.serialised(sessionId, async () => {
      await this.store.deleteSession(sessionId);
      this.events.publish(sessionId, { id: newId('event'), type: 'session.deleted', processed_at: this.clock() });
      this.events.announce('session.deleted', s);
    });
  }

  /**
   * Graceful shutdown: waits up to `deadlineMs` for running turns to end; then ephemeral sessions whose turn ended
   * finish their task, idle hybrid sessions hibernate, and every other sandbox is left running for the next berthd
   * to re-adopt; or, with `stopSandboxes`, every sandbox is destroyed.
   */
  async shutdown(o: { deadlineMs: number; stopSandboxes: boolean }): Promise<void> {
    const until = Date.now() + o.deadlineMs;
    while (!o.stopSandboxes && Date.now() < until && (await this.anyRunning()))
      await new Promise((r) => setTimeout(r, 100));
    this.guard.forgetAll();
    await Promise.all(
      this.live.ids().map(async (id) => {
        if (o.stopSandboxes) return this.stopRuntime(id);
        const s = await this.store.getSession(id);
        const pattern = storedLifecycle(s?.berth.lifecycle).pattern;
        if (s?.status === 'idle' && pattern === 'ephemeral') await this.transitions.endTask(id);
        else if (s?.status === 'idle' && pattern === 'hybrid') await this.transitions.hibernate(id);
        await this.live.get(id)?.release();
      }),
    ).catch((err: unknown) => this.logger.error({ err }, 'shutdown: a session could not be drained'));
    // Sandboxes a failure, delete or archive was already stopping: shutdown waits for them too.
    await this.live.settled();
  }

  private async anyRunning(): Promise<boolean> {
    for (const id of this.live.ids()) if ((await this.store.getSession(id))?.status === 'running') return true;
    return false;
  }

  /** The directory of the artifacts an ended ephemeral session kept, if any. */
  artifactsOf(sessionId: string): Promise<string | undefined> {
    return this.opts.artifacts?.rootOf(sessionId) ?? Promise.resolve(undefined);
  }

  async load(sessionId: string): Promise<SessionRecord> {
    const s = await this.store.getSession(sessionId);
    if (!s) throw notFound('session', sessionId);
    return s;
  }

  /** The live active time of a session, including the turn in progress. */
  activeSeconds(s: SessionRecord): number {
    return this.status.activeSeconds(s);
  }

  private async setSandboxState(sessionId: string, state: string): Promise<void> {
    if (!this.live.has(sessionId)) return;
    await this.store.updateSession(sessionId, { sandbox_state: state }).catch((err: unknown) => {
      this.logger.warn({ err, sessionId }, 'could not record the sandbox state');
    });
  }

  private async stopRuntime(sessionId: string): Promise<void> {
    this.guard.forget(sessionId);
    this.pending.forget(sessionId);
    this.repoTokens.forget(sessionId);
    this.shared.leave(sessionId);
    const runtime = this.live.detach(sessionId);
    if (runtime) await this.live.teardown(sessionId, runtime);
  }
}
