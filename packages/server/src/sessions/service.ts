import { randomBytes, randomUUID } from 'node:crypto';
import { newId, type RunnerEvent, type RunnerFrame } from '@berth/protocol';
import type { Clock } from '../api/common.js';
import { ApiError, notFound } from '../errors.js';
import { hashToken } from '../gateway/gateway.js';
import type { Logger } from '../logger.js';
import type { JsonObject, SessionRecord, SessionStatus, Store } from '../store/store.js';
import type { EventLog, WireEvent } from './event-log.js';
import { CredentialInjector } from '../egress/inject.js';
import { EgressPolicy } from '../egress/policy.js';
import { VaultSecretError, type VaultService } from '../vaults/service.js';
import { buildRunConfig, mcpServers } from './run-config.js';
import { toSandboxResources } from '../resources.js';
import { SessionRuntime, type RuntimeDeps } from './runtime.js';
import type { ReadOnlyFile, SandboxDriver } from '../drivers/driver.js';
import { storedLifecycle } from '../lifecycle.js';
import { SessionGuard, type Timers } from './guard.js';
import { memoryKillError, turnTimeoutError } from './session-errors.js';
import { PendingActions } from './pending-actions.js';
import { Admission } from './admission.js';
import { answersIn, frameFor, withFileBytes, type InboundEvent } from './inbound.js';
import type { GitAuthRewriter } from '../egress/git-auth.js';
import { gitResourcesOf, type GitRepositoryResource } from '../session-resources/git.js';
import { RepositoryTokens } from '../session-resources/tokens.js';
import { CLONE_TIMEOUT_MS, RepositoryPrepareFailure, repositoryError, repositorySetup } from './repositories.js';
import type { SessionObserver } from '../observability/observer.js';

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
            `The session was idle for longer than its idle timeout of ${s} s (berth.lifecycle.idle_timeout_s) and its ` +
              'sandbox was stopped (persistent sessions cannot hibernate yet). Create a new session, or raise or ' +
              'unset idle_timeout_s on the environment or the session.',
            'limit',
          ),
      },
      opts.timers,
    );
  }

  /**
   * The enabled driver a session's `berth.driver` names (the API has refused any other). The default driver when it
   * names none.
   */
  private driverFor(session: Pick<SessionRecord, 'berth'>): SandboxDriver {
    const name = (session.berth.driver as string | undefined) ?? this.runtimeDeps.driver.name;
    const driver =
      name === this.runtimeDeps.driver.name ? this.runtimeDeps.driver : this.runtimeDeps.drivers?.get(name);
    if (driver === undefined)
      throw new ApiError(
        'unsupported_feature',
        `berth.driver '${name}' is not enabled on this server; start berthd with --drivers bwrap,${name}.`,
      );
    return driver;
  }

  /** The egress policy: the environment's networking, plus the agent's MCP servers and the session's repositories. */
  private async policyFor(s: Pick<SessionRecord, 'environment_id' | 'resources'>, agent: JsonObject) {
    return EgressPolicy.compile({
      config: (await this.store.getEnvironment(s.environment_id))?.config ?? {},
      mcpServers: mcpServers(agent),
      repositories: gitResourcesOf(s.resources).map((r) => ({ resourceId: r.id, url: r.url })),
    });
  }

  private async injectorFor(session: SessionRecord): Promise<CredentialInjector | undefined> {
    if (!this.opts.vaults || session.vault_ids.length === 0) return undefined;
    try {
      return await CredentialInjector.forSession(
        this.opts.vaults,
        session.vault_ids,
        this.logger.child({ sessionId: session.id, component: 'egress' }),
      );
    } catch (err) {
      if (!(err instanceof VaultSecretError)) throw err;
      throw new ApiError(
        'vault_credential_unusable',
        `${err.message}. Re-create the credential (or restore the vault master key it was sealed with).`,
      );
    }
  }

  /** Persists a new session and starts its sandbox in the background. Returns the stored record. */
  async create(
    record: Omit<SessionRecord, 'gateway_token_hash' | 'sdk_session_id' | 'sandbox_id' | 'sandbox_state'>,
    limits: { envMaxSessions?: number } = {},
    /** Tokens of the record's github_repository resources, by resource id (never stored). */
    repositoryTokens: ReadonlyMap<string, string> = new Map(),
  ): Promise<SessionRecord> {
    this.admission.admit(record.id, record.environment_id, limits.envMaxSessions);
    try {
      return await this.createAdmitted(record, repositoryTokens);
    } catch (err) {
      if (!this.runtimes.has(record.id)) this.admission.release(record.id);
      throw err;
    }
  }

  private async createAdmitted(
    record: Omit<SessionRecord, 'gateway_token_hash' | 'sdk_session_id' | 'sandbox_id' | 'sandbox_state'>,
    repositoryTokens: ReadonlyMap<string, string>,
  ): Promise<SessionRecord> {
    const token = `bgt_${randomBytes(32).toString('base64url')}`;
    const session: SessionRecord = {
      ...record,
      gateway_token_hash: hashToken(token),
      sdk_session_id: randomUUID(),
      sandbox_id: newId('sandbox'),
      sandbox_state: 'starting',
    };
    const driver = this.driverFor(session);
    // Before anything is stored: a credential that cannot be decrypted refuses the session (fail closed).
    const injector = await this.injectorFor(session);
    const repos = gitResourcesOf(session.resources);
    const policy = await this.policyFor(session, session.agent);
    const { rewriter, jobs, gitAuth } = repositorySetup(repos, injector, {
      token: (rid) => this.repoTokens.get(session.id, rid),
      log: this.logger.child({ sessionId: session.id, component: 'egress' }),
      timeoutMs: CLONE_TIMEOUT_MS,
    });
    if (gitAuth) this.gitAuth.set(session.id, gitAuth);
    for (const [rid, token] of repositoryTokens) this.repoTokens.set(session.id, rid, token);
    await this.store.createSession(session);
    this.events.announce('session.created', session);
    this.drivers.set(session.id, driver);
    const runtime = new SessionRuntime(
      session.id,
      session.sandbox_id!,
      session.gateway_token_hash,
      buildRunConfig({
        agent: session.agent,
        gatewayToken: token,
        sdkSessionId: session.sdk_session_id,
        maxTurns: this.opts.maxTurns,
        modelMaxRetries: this.opts.modelMaxRetries,
        env: { ...this.opts.sessionEnv, ...injector?.env() },
      }),
      { policy, rewriter },
      { ...this.runtimeDeps, driver },
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
      jobs,
    );
    this.runtimes.set(session.id, runtime);
    this.opts.observer?.sessionStarted(session.id, session.sandbox_id!, driver.name);
    this.guard.watch(session.id, storedLifecycle(session.berth.lifecycle), Date.parse(session.created_at));
    // 'starting' until the agent process reports ready; messages sent meanwhile queue in order.
    const files = this.opts.sandboxFiles?.(session) ?? [];
    void runtime.start(toSandboxResources(session.berth.resources), files).catch((err: unknown) => {
      // A session archived or deleted while its sandbox was starting did not fail: it was stopped on purpose.
      if (this.runtimes.get(session.id) !== runtime) return;
      if (err instanceof RepositoryPrepareFailure) {
        const body = repositoryError(err, this.gitAuth.get(session.id)?.statusesOf(err.job.resourceId) ?? []);
        return this.fail(session.id, body.message, 'failure', body);
      }
      return this.fail(session.id, `The sandbox failed to start: ${(err as Error).message}.`);
    });
    return session;
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
    const stored = await this.events.append(sessionId, inbound);
    const runtime = this.runtimes.get(sessionId);
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
    const runtime = this.runtimes.get(sessionId);
    if (!runtime) return;
    const old = runtime.config;
    const policy = await this.policyFor(s, agent);
    const config = buildRunConfig({
      agent,
      gatewayToken: old.gateway_token,
      sdkSessionId: old.sdk_session_id,
      maxTurns: this.opts.maxTurns,
      modelMaxRetries: this.opts.modelMaxRetries,
      env: old.env,
    });
    runtime.reconfigure(config, policy);
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
    await this.stopRuntime(sessionId);
    await this.events.serialised(sessionId, async () => {
      await this.store.deleteSession(sessionId);
      this.events.publish(sessionId, { id: newId('event'), type: 'session.deleted', processed_at: this.clock() });
      this.events.announce('session.deleted', s);
    });
  }

  /** Destroys every sandbox this process started (graceful shutdown of a build without re-adoption). */
  async stopAll(): Promise<void> {
    this.guard.forgetAll();
    await Promise.all([...this.runtimes.keys()].map((id) => this.stopRuntime(id)));
    // Sandboxes a failure, delete or archive was already stopping: shutdown waits for them too.
    await Promise.allSettled([...this.destroying]);
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
    this.admission.release(sessionId);
    this.repoTokens.forget(sessionId);
    this.gitAuth.delete(sessionId);
    const runtime = this.runtimes.get(sessionId);
    if (!runtime) return;
    this.runtimes.delete(sessionId);
    this.drivers.delete(sessionId);
    const teardown = this.teardown(sessionId, runtime);
    this.destroying.add(teardown);
    await teardown.finally(() => this.destroying.delete(teardown));
  }

  private async teardown(sessionId: string, runtime: SessionRuntime): Promise<void> {
    await this.opts.observer?.sessionStopping(sessionId).catch((err: unknown) => {
      this.logger.debug({ err, sessionId }, 'could not take the last usage sample');
    });
    await runtime.destroy().catch((err: unknown) => {
      this.logger.error({ err, sessionId }, 'destroying the sandbox failed');
      throw err;
    });
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
