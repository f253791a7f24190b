import type { SessionRunConfig } from '@berth/protocol';
import type { ReadOnlyFile, SandboxDriver, SandboxInfo, SandboxResources } from '../drivers/driver.js';
import type { GitAuthRewriter } from '../egress/git-auth.js';
import type { EgressPolicy } from '../egress/policy.js';
import type { RequestRewriter } from '../egress/proxy.js';
import { storedLifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { toSandboxResources } from '../resources.js';
import { gitResourcesOf } from '../session-resources/git.js';
import type { RepositoryTokens } from '../session-resources/tokens.js';
import type { JsonObject, SessionRecord, Store } from '../store/store.js';
import type { Admission } from './admission.js';
import type { EventLog } from './event-log.js';
import type { SessionGuard } from './guard.js';
import type { LiveSandboxes } from './live.js';
import {
  CLONE_TIMEOUT_MS,
  RepositoryPrepareFailure,
  repositoryError,
  repositorySetup,
  type RepositoryJob,
} from './repositories.js';
import { buildRunConfig } from './run-config.js';
import { sharedSandboxOf } from './shared.js';
import { SessionRuntime, type RuntimeCallbacks, type RuntimeDeps } from './runtime.js';
import type { SessionServiceOptions } from './service.js';
import type { SessionSetup } from './setup.js';
import { templateKey, type SpareFactory } from './spares.js';
import type { SessionStatusKeeper } from './status.js';
import type { Spare, WarmPool } from './warm-pool.js';

/** Everything a sandbox is set up with besides the session record. */
export interface Launch {
  driver: SandboxDriver;
  /** Credential environment of the session's vaults. */
  env: Record<string, string>;
  policy: EgressPolicy;
  rewriter: RequestRewriter | undefined;
  jobs: RepositoryJob[];
  gitAuth: GitAuthRewriter | undefined;
}

/** The session service's parts a launcher works with. */
export interface LauncherDeps {
  store: Store;
  events: EventLog;
  setup: SessionSetup;
  live: LiveSandboxes;
  admission: Admission;
  guard: SessionGuard;
  status: SessionStatusKeeper;
  repoTokens: RepositoryTokens;
  runtimeDeps: RuntimeDeps;
  opts: SessionServiceOptions;
  logger: Logger;
  spares: SpareFactory;
  pool: WarmPool;
  setSandboxState(sessionId: string, state: string): Promise<void>;
}

/**
 * Starts sessions' sandboxes: a new one, one restored from a snapshot, a re-adopted one, or a warm spare taken
 * over; every way gets the same run config, egress policy and callbacks.
 */
export class SessionLauncher {
  constructor(private readonly d: LauncherDeps) {}

  /** The new session takes over a warm spare: its ids, its sandbox and its already started agent process. */
  async createFromSpare(
    record: Omit<SessionRecord, 'gateway_token_hash' | 'sdk_session_id' | 'sandbox_id' | 'sandbox_state'>,
    spare: Spare,
  ): Promise<SessionRecord> {
    this.d.admission.release(record.id);
    this.d.admission.adopt(spare.sessionId, record.environment_id);
    const session: SessionRecord = {
      ...record,
      id: spare.sessionId,
      gateway_token_hash: spare.tokenHash,
      sdk_session_id: spare.sdkSessionId,
      sandbox_id: spare.sandboxId,
      sandbox_state: spare.agentReady ? 'ready' : 'starting',
    };
    try {
      await this.d.store.createSession(session);
      this.d.events.announce('session.created', session);
    } catch (err) {
      this.d.admission.release(session.id);
      void this.d.spares.discard(spare);
      throw err;
    }
    this.d.spares.bind(spare, this.callbacksFor(session.id));
    this.d.live.add(session.id, spare.runtime, this.d.setup.driverFor(session));
    this.d.opts.observer?.sessionStarted(session.id, spare.sandboxId, this.d.setup.driverFor(session).name);
    this.d.guard.watch(session.id, storedLifecycle(session.berth.lifecycle), Date.parse(session.created_at));
    this.d.logger.info({ sessionId: session.id, sandboxId: spare.sandboxId }, 'session took a warm sandbox');
    return session;
  }

  /** Everything a sandbox is set up with besides the record: driver, egress, credentials, repositories. */
  async prepareLaunch(session: SessionRecord, clone: boolean): Promise<Launch> {
    const driver = this.d.setup.driverFor(session);
    const injector = await this.d.setup.injectorFor(session);
    const policy = await this.d.setup.policyFor(session, session.agent);
    const { rewriter, jobs, gitAuth } = repositorySetup(gitResourcesOf(session.resources), injector, {
      token: (rid) => this.d.repoTokens.get(session.id, rid),
      log: this.d.logger.child({ sessionId: session.id, component: 'egress' }),
      timeoutMs: CLONE_TIMEOUT_MS,
    });
    // A resumed or re-adopted sandbox has its clones already (in the workspace it restored or kept).
    return { driver, env: injector?.env() ?? {}, policy, rewriter, jobs: clone ? jobs : [], gitAuth };
  }

  /**
   * Builds the session's runtime and starts its sandbox: a new one (`create`), one restored from the session's
   * snapshot (`resume`), or the running one an earlier berthd left (`adopt`, started by the caller).
   */
  startRuntime(
    session: SessionRecord,
    l: Launch,
    how: { kind: 'create' | 'resume'; token: string } | { kind: 'adopt' },
  ): SessionRuntime {
    if (l.gitAuth) this.d.live.gitAuth.set(session.id, l.gitAuth);
    const runtime = new SessionRuntime(
      session.id,
      session.sandbox_id!,
      session.gateway_token_hash,
      how.kind === 'adopt'
        ? undefined
        : this.runConfigFor(session.agent, how.token, session.sdk_session_id, how.kind === 'resume', l.env),
      { policy: l.policy, rewriter: l.rewriter },
      { ...this.d.runtimeDeps, driver: l.driver },
      this.callbacksFor(session.id),
      l.jobs,
    );
    this.d.live.add(session.id, runtime, l.driver);
    this.d.opts.observer?.sessionStarted(session.id, session.sandbox_id!, l.driver.name);
    if (!this.d.guard.watching(session.id))
      this.d.guard.watch(session.id, storedLifecycle(session.berth.lifecycle), Date.parse(session.created_at));
    if (how.kind === 'adopt') return runtime;
    // 'starting' until the agent process reports ready; messages sent meanwhile queue in order.
    const files = this.d.opts.sandboxFiles?.(session) ?? [];
    const resources = toSandboxResources(session.berth.resources);
    const group = sharedSandboxOf(session);
    const shared = group === undefined ? undefined : { group };
    const started =
      how.kind === 'resume'
        ? this.resume(runtime, session.id, resources, files)
        : runtime.start(resources, files, undefined, shared);
    void started.catch((err: unknown) => {
      // A session archived or deleted while its sandbox was starting did not fail: it was stopped on purpose.
      if (this.d.live.get(session.id) !== runtime) return;
      if (err instanceof RepositoryPrepareFailure) {
        const body = repositoryError(err, this.d.live.gitAuth.get(session.id)?.statusesOf(err.job.resourceId) ?? []);
        return this.d.status.fail(session.id, body.message, 'failure', body);
      }
      return this.d.status.fail(session.id, `The sandbox failed to start: ${(err as Error).message}.`);
    });
    return runtime;
  }

  /**
   * Starts a hibernated session's new sandbox from its snapshot: on its disk image, handed over whole (the disk's
   * own size is kept), or with its tars restored into the new workspace and home before the agent starts.
   */
  private async resume(
    runtime: SessionRuntime,
    sessionId: string,
    resources: SandboxResources,
    files: ReadOnlyFile[],
  ): Promise<void> {
    const snapshots = this.d.opts.snapshots!;
    const image = await snapshots.diskImage(sessionId);
    // Shared sandboxes do not hibernate, so a resumed sandbox is never a member of one.
    if (image) return runtime.start({ ...resources, diskMib: image.sizeMib }, files, undefined, undefined, image.path);
    return runtime.start(resources, files, (info: SandboxInfo) => snapshots.restore(sessionId, info));
  }

  /** What a live session's runtime reports to. */
  callbacksFor(sessionId: string): RuntimeCallbacks {
    return {
      onEvent: (f) => this.d.status.onRunnerEvent(sessionId, f),
      welcome: async () => ({
        type: 'welcome',
        sessions: [
          { session_id: sessionId, acked_seq: (await this.d.store.getSession(sessionId))?.runner_acked_seq ?? 0 },
        ],
      }),
      onLost: (reason) => void this.d.status.lost(sessionId, reason),
      onAgentReady: () => {
        this.d.opts.observer?.agentReady(sessionId);
        void this.d.setSandboxState(sessionId, 'ready');
      },
    };
  }

  /**
   * A warm spare for the new session, when its environment keeps a pool and the session would run exactly what the
   * spare runs: same run config, resources and driver, and nothing a spare cannot have (vault credentials, git
   * repositories or files mounted at creation).
   */
  async spareFor(
    record: Pick<SessionRecord, 'id' | 'environment_id' | 'agent' | 'berth' | 'resources' | 'vault_ids'>,
  ): Promise<Spare | undefined> {
    const env = await this.d.store.getEnvironment(record.environment_id);
    const size = (env?.berth.warm_pool as { size?: number } | undefined)?.size ?? 0;
    if (!env || size === 0) return undefined;
    const fits =
      record.vault_ids.length === 0 &&
      gitResourcesOf(record.resources).length === 0 &&
      (this.d.opts.sandboxFiles?.(record as SessionRecord) ?? []).length === 0 &&
      (record.berth.driver ?? 'bwrap') === (env.berth.driver ?? 'bwrap') &&
      JSON.stringify(record.berth.resources ?? {}) === JSON.stringify(env.berth.resources ?? {});
    if (!fits) return undefined;
    const build = (agent: JsonObject, token: string, sdk: string) => this.runConfigFor(agent, token, sdk, false, {});
    return this.d.pool.take(env.id, { key: templateKey(build, record.agent), agent: record.agent });
  }

  runConfigFor(
    agent: JsonObject,
    token: string,
    sdkSessionId: string,
    resume: boolean,
    env: Record<string, string>,
  ): SessionRunConfig {
    return buildRunConfig({
      agent,
      gatewayToken: token,
      sdkSessionId,
      resume,
      maxTurns: this.d.opts.maxTurns,
      modelMaxRetries: this.d.opts.modelMaxRetries,
      env: { ...this.d.opts.sessionEnv, ...env },
    });
  }
}
