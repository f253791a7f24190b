import { randomBytes, randomUUID } from 'node:crypto';
import { newId, type RunnerEvent, type RunnerFrame, type SessionRunConfig } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import type { ArtifactStore } from '../blobs/artifacts.js';
import type { SnapshotStore } from '../blobs/snapshots.js';
import { ApiError, notFound } from '../errors.js';
import type { EgressPolicy } from '../egress/policy.js';
import type { RequestRewriter } from '../egress/proxy.js';
import { hashToken } from '../gateway/gateway.js';
import type { Logger } from '../logger.js';
import type { JsonObject, SessionRecord, SessionStatus, Store } from '../store/store.js';
import type { EventLog, WireEvent } from './event-log.js';
import type { VaultService } from '../vaults/service.js';
import { buildRunConfig } from './run-config.js';
import { toSandboxResources } from '../resources.js';
import { SessionRuntime, type RuntimeDeps } from './runtime.js';
import type { ReadOnlyFile, SandboxDriver, SandboxInfo } from '../drivers/driver.js';
import { storedLifecycle } from '../lifecycle.js';
import { SessionGuard, type Timers } from './guard.js';
import { memoryKillError, turnTimeoutError } from './session-errors.js';
import { PendingActions } from './pending-actions.js';
import { Admission } from './admission.js';
import { answersIn, frameFor, withFileBytes, type InboundEvent } from './inbound.js';
import type { GitAuthRewriter } from '../egress/git-auth.js';
import { gitResourcesOf, type GitRepositoryResource } from '../session-resources/git.js';
import { RepositoryTokens } from '../session-resources/tokens.js';
import {
  CLONE_TIMEOUT_MS,
  RepositoryPrepareFailure,
  repositoryError,
  repositorySetup,
  type RepositoryJob,
} from './repositories.js';
import type { SessionObserver } from '../observability/observer.js';
import { SessionSetup } from './setup.js';
import { SessionTransitions } from './transitions.js';

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

/** Everything a sandbox is set up with besides the session record. */
interface Launch {
  driver: SandboxDriver;
  /** Credential environment of the session's vaults. */
  env: Record<string, string>;
  policy: EgressPolicy;
  rewriter: RequestRewriter | undefined;
  jobs: RepositoryJob[];
  gitAuth: GitAuthRewriter | undefined;
}

/** A new per-sandbox gateway token (berthd keeps only its hash). */
function newGatewayToken(): string {
  return `bgt_${randomBytes(32).toString('base64url')}`;
}

/**
 * Session lifecycle: starts a sandbox per session, relays user events to its runner, persists what the runner
 * emits, and tears everything down on delete or archive. The API layer validates input; this layer owns state.
 */
export class SessionService {
  private readonly runtimes = new Map<string, SessionRuntime>();
  /** When each running session last went running, for `stats.active_seconds`. */
  private readonly runningSince = new Map<string, number>();
  /** Memory kills already reported per session. */
  private readonly oomReported = new Map<string, number>();
  /** The driver each live session's sandbox runs on. */
  private readonly drivers = new Map<string, SandboxDriver>();
  /** The concurrency limits, with every live (or starting) sandbox's environment. */
  private readonly admission: Admission;
  private readonly guard: SessionGuard;
  /** Sandbox destroys in progress, so shutdown can wait for every one. */
  private readonly destroying = new Set<Promise<void>>();
  /** Tool calls waiting for the client, per session. */
  private readonly pending = new PendingActions();
  /** Repository tokens (memory only) and each live session's repository rewriter (for failure classification). */
  private readonly repoTokens = new RepositoryTokens();
  private readonly gitAuth = new Map<string, GitAuthRewriter>();

  private readonly setup: SessionSetup;
  private readonly transitions: SessionTransitions;

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
    this.setup = new SessionSetup(store, runtimeDeps.driver, runtimeDeps.drivers, opts.vaults, logger);
    this.guard = new SessionGuard(
      {
        turnTimedOut: (id, s) => void this.turnTimedOut(id, s),
        lifetimeReached: (id, s) =>
          void this.fail(
            id,
            `The session reached its maximum lifetime of ${s} s (berth.lifecycle.max_lifetime_s) and its sandbox was ` +
              'stopped. Create a new session, or raise max_lifetime_s on the environment or the session.',
            'limit',
          ),
        idleTimedOut: (id, s) =>
          void this.fail(
            id,
            `The session was idle for longer than its idle timeout of ${s} s (berth.lifecycle.idle_timeout_s) and ` +
              'ended. Create a new session, or raise or unset idle_timeout_s on the environment or the session (a ' +
              "'hybrid' session hibernates instead after hibernate_after_s).",
            'limit',
          ),
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
    this.transitions = new SessionTransitions(
      {
        runtime: (id) => this.runtimes.get(id),
        busy: (id) => this.pending.has(id),
        driverFor: (s) => this.setup.driverFor(s),
        detach: (id) => this.detach(id),
        teardown: (id, rt) => this.teardown(id, rt),
        relaunch: (s) => this.relaunch(s),
        fail: (id, message) => this.fail(id, message),
        terminate: (id) => this.terminate(id),
        hibernated: (id) => this.guard.hibernated(id),
      },
      store,
      events,
      logger,
      opts.snapshots,
      opts.artifacts,
    );
  }

  /** Hibernates an idle session (see {@link SessionTransitions.hibernate}); returns the record. */
  async hibernate(sessionId: string): Promise<SessionRecord> {
    await this.load(sessionId);
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
    try {
      for (const [rid, token] of repositoryTokens) this.repoTokens.set(record.id, rid, token);
      const token = newGatewayToken();
      const session: SessionRecord = {
        ...record,
        gateway_token_hash: hashToken(token),
        sdk_session_id: randomUUID(),
        sandbox_id: newId('sandbox'),
        sandbox_state: 'starting',
      };
      // Before anything is stored: a credential that cannot be decrypted refuses the session (fail closed).
      const launch = await this.prepareLaunch(session, true);
      await this.store.createSession(session);
      this.startRuntime(session, launch, { kind: 'create', token });
      return session;
    } catch (err) {
      if (!this.runtimes.has(record.id)) {
        this.admission.release(record.id);
        this.repoTokens.forget(record.id);
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
    const launch = await this.prepareLaunch(session, false);
    const runtime = this.startRuntime(session, launch, { kind: 'adopt' });
    if (session.status === 'running') {
      this.runningSince.set(session.id, Date.now());
      this.guard.turnStarted(session.id);
    }
    for (const e of await this.events.history(session.id)) this.pending.observe(session.id, e);
    await runtime
      .adopt()
      .catch((err: unknown) =>
        this.fail(
          session.id,
          `berthd restarted and could not re-adopt the session's sandbox: ${(err as Error).message}`,
        ),
      );
  }

  /** Everything a sandbox is set up with besides the record: driver, egress, credentials, repositories. */
  private async prepareLaunch(session: SessionRecord, clone: boolean): Promise<Launch> {
    const driver = this.setup.driverFor(session);
    const injector = await this.setup.injectorFor(session);
    const policy = await this.setup.policyFor(session, session.agent);
    const { rewriter, jobs, gitAuth } = repositorySetup(gitResourcesOf(session.resources), injector, {
      token: (rid) => this.repoTokens.get(session.id, rid),
      log: this.logger.child({ sessionId: session.id, component: 'egress' }),
      timeoutMs: CLONE_TIMEOUT_MS,
    });
    // A resumed or re-adopted sandbox has its clones already (in the workspace it restored or kept).
    return { driver, env: injector?.env() ?? {}, policy, rewriter, jobs: clone ? jobs : [], gitAuth };
  }

  /**
   * Builds the session's runtime and starts its sandbox: a new one (`create`), one restored from the session's
   * snapshot (`resume`), or the running one an earlier berthd left (`adopt`, started by the caller).
   */
  private startRuntime(
    session: SessionRecord,
    l: Launch,
    how: { kind: 'create' | 'resume'; token: string } | { kind: 'adopt' },
  ): SessionRuntime {
    if (l.gitAuth) this.gitAuth.set(session.id, l.gitAuth);
    this.drivers.set(session.id, l.driver);
    const runtime = new SessionRuntime(
      session.id,
      session.sandbox_id!,
      session.gateway_token_hash,
      how.kind === 'adopt'
        ? undefined
        : this.runConfigFor(session, session.agent, how.token, how.kind === 'resume', l.env),
      { policy: l.policy, rewriter: l.rewriter },
      { ...this.runtimeDeps, driver: l.driver },
      {
        onEvent: (f) => this.onRunnerEvent(session.id, f),
        welcome: async () => ({
          type: 'welcome',
          sessions: [
            { session_id: session.id, acked_seq: (await this.store.getSession(session.id))?.runner_acked_seq ?? 0 },
          ],
        }),
        onLost: (reason) => void this.lost(session.id, reason),
        onAgentReady: () => {
          this.opts.observer?.agentReady(session.id);
          void this.setSandboxState(session.id, 'ready');
        },
      },
      l.jobs,
    );
    this.runtimes.set(session.id, runtime);
    this.opts.observer?.sessionStarted(session.id, session.sandbox_id!, l.driver.name);
    if (!this.guard.watching(session.id))
      this.guard.watch(session.id, storedLifecycle(session.berth.lifecycle), Date.parse(session.created_at));
    if (how.kind === 'adopt') return runtime;
    // 'starting' until the agent process reports ready; messages sent meanwhile queue in order.
    const files = this.opts.sandboxFiles?.(session) ?? [];
    const restore =
      how.kind === 'resume' ? (info: SandboxInfo) => this.opts.snapshots!.restore(session.id, info) : undefined;
    void runtime.start(toSandboxResources(session.berth.resources), files, restore).catch((err: unknown) => {
      // A session archived or deleted while its sandbox was starting did not fail: it was stopped on purpose.
      if (this.runtimes.get(session.id) !== runtime) return;
      if (err instanceof RepositoryPrepareFailure) {
        const body = repositoryError(err, this.gitAuth.get(session.id)?.statusesOf(err.job.resourceId) ?? []);
        return this.fail(session.id, body.message, 'failure', body);
      }
      return this.fail(session.id, `The sandbox failed to start: ${(err as Error).message}.`);
    });
    return runtime;
  }

  private runConfigFor(
    session: SessionRecord,
    agent: JsonObject,
    token: string,
    resume: boolean,
    env: Record<string, string>,
  ): SessionRunConfig {
    return buildRunConfig({
      agent,
      gatewayToken: token,
      sdkSessionId: session.sdk_session_id,
      resume,
      maxTurns: this.opts.maxTurns,
      modelMaxRetries: this.opts.modelMaxRetries,
      env: { ...this.opts.sessionEnv, ...env },
    });
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
    if (this.runtimes.has(sessionId)) this.repoTokens.set(sessionId, resourceId, token);
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
    // Before anything is stored: an unknown file refuses the request; the history keeps the event as sent.
    const toRunner = await withFileBytes(inbound, this.opts.resolveContent);
    // A hibernated session wakes up for a message: a fresh sandbox with its files and conversation.
    if (toRunner.some((e) => e.type !== 'user.interrupt')) await this.transitions.ensureAwake(sessionId);
    const stored = await this.events.append(sessionId, inbound);
    const runtime = this.runtimes.get(sessionId);
    for (const e of toRunner) {
      if (e.type === 'user.interrupt') runtime?.dropQueuedMessages();
      if (e.type === 'user.message' || e.type === 'system.message') {
        this.opts.observer?.messageSent(sessionId);
        this.guard.messageQueued(sessionId);
      }
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
    const runtime = this.runtimes.get(sessionId);
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
    runtime.reconfigure(this.runConfigFor(s, agent, token, true, env), policy);
  }

  /** Starts a hibernated session's new sandbox, restored from its snapshot (see {@link SessionTransitions}). */
  async relaunch(s: SessionRecord): Promise<void> {
    this.admission.admit(s.id, s.environment_id, await this.envMaxSessions(s.environment_id));
    try {
      const token = newGatewayToken();
      const patch = { gateway_token_hash: hashToken(token), sandbox_id: newId('sandbox'), sandbox_state: 'resuming' };
      const launch = await this.prepareLaunch(s, false);
      const session = (await this.store.updateSession(s.id, patch))!;
      this.startRuntime(session, launch, { kind: 'resume', token });
      this.logger.info({ sessionId: s.id, sandboxId: patch.sandbox_id }, 'resuming a hibernated session');
    } catch (err) {
      if (!this.runtimes.has(s.id)) this.admission.release(s.id);
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
    return (await this.store.updateSession(sessionId, {
      archived_at: now,
      sandbox_state: 'stopped',
      status: s.status === 'running' ? 'idle' : s.status,
    }))!;
  }

  /** Stops the sandbox, tells open streams, and deletes the session with its history. */
  async delete(sessionId: string): Promise<void> {
    await this.load(sessionId);
    await this.transitions.settled(sessionId);
    await this.stopRuntime(sessionId);
    await this.opts.snapshots?.drop(sessionId);
    await this.opts.artifacts?.drop(sessionId);
    await this.events.serialised(sessionId, async () => {
      await this.store.deleteSession(sessionId);
      this.events.publish(sessionId, { id: newId('event'), type: 'session.deleted', processed_at: this.clock() });
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
      [...this.runtimes.keys()].map(async (id) => {
        if (o.stopSandboxes) return this.stopRuntime(id);
        const s = await this.store.getSession(id);
        const pattern = storedLifecycle(s?.berth.lifecycle).pattern;
        if (s?.status === 'idle' && pattern === 'ephemeral') await this.transitions.endTask(id);
        else if (s?.status === 'idle' && pattern === 'hybrid') await this.transitions.hibernate(id);
        await this.runtimes.get(id)?.release();
      }),
    ).catch((err: unknown) => this.logger.error({ err }, 'shutdown: a session could not be drained'));
    // Sandboxes a failure, delete or archive was already stopping: shutdown waits for them too.
    await Promise.allSettled([...this.destroying]);
  }

  private async anyRunning(): Promise<boolean> {
    for (const id of this.runtimes.keys()) if ((await this.store.getSession(id))?.status === 'running') return true;
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
    const base = typeof s.stats.active_seconds === 'number' ? s.stats.active_seconds : 0;
    const since = this.runningSince.get(s.id);
    return base + (since ? (Date.now() - since) / 1000 : 0);
  }

  private async setSandboxState(sessionId: string, state: string): Promise<void> {
    if (!this.runtimes.has(sessionId)) return;
    await this.store.updateSession(sessionId, { sandbox_state: state }).catch((err: unknown) => {
      this.logger.warn({ err, sessionId }, 'could not record the sandbox state');
    });
  }

  private async stopRuntime(sessionId: string): Promise<void> {
    this.guard.forget(sessionId);
    this.pending.forget(sessionId);
    this.repoTokens.forget(sessionId);
    const runtime = this.detach(sessionId);
    if (runtime) await this.teardown(sessionId, runtime);
  }

  /** Forgets a live sandbox (maps, concurrency place) and returns it, still running. */
  private detach(sessionId: string): SessionRuntime | undefined {
    this.admission.release(sessionId);
    this.gitAuth.delete(sessionId);
    const runtime = this.runtimes.get(sessionId);
    this.runtimes.delete(sessionId);
    this.drivers.delete(sessionId);
    return runtime;
  }

  /** The session ended normally (an ephemeral task is done): status_terminated, and its sandbox goes. */
  private async terminate(sessionId: string): Promise<void> {
    await this.events.append(sessionId, [{ id: newId('event'), type: 'session.status_terminated' }]);
    await this.applyStatus(sessionId, 'session.status_terminated');
    await this.store.updateSession(sessionId, { sandbox_state: 'stopped' });
    await this.stopRuntime(sessionId);
  }

  /** Destroys a detached sandbox; shutdown waits for every destroy in progress. */
  private async teardown(sessionId: string, runtime: SessionRuntime): Promise<void> {
    const done = (async () => {
      await this.opts.observer?.sessionStopping(sessionId).catch((err: unknown) => {
        this.logger.debug({ err, sessionId }, 'could not take the last usage sample');
      });
      await runtime.destroy().catch((err: unknown) => {
        this.logger.error({ err, sessionId }, 'destroying the sandbox failed');
        throw err;
      });
    })();
    this.destroying.add(done);
    await done.finally(() => this.destroying.delete(done));
  }

  private async onRunnerEvent(sessionId: string, frame: Extract<RunnerFrame, { type: 'event' }>): Promise<void> {
    const stored = await this.events.append(sessionId, [frame.event as RunnerEvent & JsonObject], frame.seq);
    for (const r of stored) {
      this.pending.observe(sessionId, r.body as WireEvent);
      await this.applyStatus(sessionId, r.type);
      if (r.type === 'agent.tool_result' || r.type === 'agent.mcp_tool_result') await this.reportMemoryKills(sessionId);
    }
  }

  /** Tool processes the kernel killed at the memory limit: a `session.error` naming it (the agent sees a failed tool). */
  private async reportMemoryKills(sessionId: string): Promise<string | undefined> {
    const rt = this.runtimes.get(sessionId);
    const driver = this.drivers.get(sessionId);
    if (!rt || !driver?.oomKills) return undefined;
    const kills = (await driver.oomKills(rt.sandboxId)) ?? 0;
    const seen = this.oomReported.get(sessionId) ?? 0;
    if (kills <= seen) return undefined;
    this.oomReported.set(sessionId, kills);
    const s = await this.store.getSession(sessionId);
    const event = memoryKillError(
      kills - seen,
      (s?.berth.resources as { memory_mib?: number } | undefined)?.memory_mib,
    );
    await this.events.append(sessionId, [event]);
    const message = (event.error as { message: string }).message;
    return message;
  }

  /** The sandbox is gone; say whether its memory limit is why. */
  private async lost(sessionId: string, reason: string): Promise<void> {
    const memory = await this.reportMemoryKills(sessionId).catch(() => undefined);
    await this.fail(sessionId, `The session's sandbox stopped unexpectedly: ${memory ?? reason}.`);
  }

  /** Keeps `status` and `stats` in step with the status events in the history. */
  private async applyStatus(sessionId: string, type: string): Promise<void> {
    const next: Partial<Record<string, SessionStatus>> = {
      'session.status_running': 'running',
      'session.status_idle': 'idle',
      'session.status_terminated': 'terminated',
    };
    const status = next[type];
    if (!status) return;
    this.opts.observer?.statusChanged(sessionId, status);
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
  private async turnTimedOut(sessionId: string, limitS: number): Promise<void> {
    const runtime = this.runtimes.get(sessionId);
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
  private async fail(
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
      await this.stopRuntime(sessionId);
    } catch (err) {
      // The session may have been deleted meanwhile; nothing is left to record.
      this.logger.warn({ err, sessionId }, 'could not record the session failure');
    }
  }
}
