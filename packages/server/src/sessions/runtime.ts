import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { RUNNER_ENV, SANDBOX_PATHS, type BerthdFrame, type RunnerFrame, type SessionRunConfig } from '@berth/protocol';
import type {
  DestroyOptions,
  ReadOnlyFile,
  SandboxDriver,
  SandboxInfo,
  SandboxResources,
  SharedPlacement,
} from '../drivers/driver.js';
import type { EgressPolicy } from '../egress/policy.js';
import type { EgressListener, EgressProxy, EgressSessionContext } from '../egress/proxy.js';
import { writeSandboxTrust, type SandboxTrust } from '../egress/trust.js';
import type { ModelGateway } from '../gateway/gateway.js';
import type { Logger } from '../logger.js';
import type { SandboxObserver } from '../observability/observer.js';
import type { TunnelAttacher, TunnelAttachment } from '../previews/hub.js';
import { ControlServer } from './control-server.js';
import { watchRunnerReturn } from './runner-watch.js';
import { RepositoryPrepareFailure, type RepositoryJob } from './repositories.js';

const STOPPED = 'the session was stopped before its sandbox was ready';

type RepositoryAnswer = Extract<RunnerFrame, { type: 'repository_prepared' }>;

/** Longest unix socket path Linux accepts (sun_path is 108 bytes including the NUL). */
const MAX_SOCKET_PATH = 107;

export interface RuntimeDeps {
  driver: SandboxDriver;
  gateway: ModelGateway;
  egress: EgressProxy;
  /** Extra CA certificates the sandbox trusts (`--sandbox-ca-file`), written into its run dir. */
  trust?: SandboxTrust | undefined;
  logger: Logger;
  /** Host directory under which each sandbox gets `<sandboxId>/` with its sockets. */
  runRoot: string;
  installDir: string;
  runnerEntry: string;
  readyTimeoutMs: number;
  /** How long a disconnected runner may stay away while its sandbox runs (default RUNNER_RECONNECT_DEADLINE_MS). */
  reconnectDeadlineMs?: number;
  logLevel: string;
  /** Told how long sandboxes take to create and to become ready (metrics). */
  observer?: SandboxObserver | undefined;
  /** Port previews: makes the sandbox's tunnel socket next to the others (absent: previews are off). */
  tunnels?: TunnelAttacher | undefined;
}

export interface RuntimeCallbacks {
  /** A validated runner event frame for this session; resolves once it is persisted (then it is acked). */
  onEvent(frame: Extract<RunnerFrame, { type: 'event' }>): Promise<void>;
  /** The runner said hello; the answer is the welcome frame (acked seqs from the store). */
  welcome(): Promise<Extract<BerthdFrame, { type: 'welcome' }>>;
  /** The runner has gone and the sandbox is not running any more. */
  onLost(reason: string): void;
  /** The session's agent process is initialised (may repeat after reconnects). */
  onAgentReady(): void;
}

/**
 * One live session's sandbox: its sockets (control + model gateway), the driver's sandbox, and the frames to its
 * runner. Frames sent before the runner is ready are queued and flushed in order once it is.
 */
export class SessionRuntime {
  readonly sandboxId: string;
  private readonly control: ControlServer;
  private gatewayServer: Server | undefined;
  private egressListener: EgressListener | undefined;
  private tunnels: TunnelAttachment | undefined;
  private readonly runDir: string;
  private readonly log: Logger;
  private ready = false;
  private stopped = false;
  private queue: BerthdFrame[] = [];
  private readyWaiters: Array<(err?: Error) => void> = [];
  private stopWaiter: (() => void) | undefined;
  private starting: Promise<void> | undefined;
  /** The egress listener's context: one object, so a reconfigure's new policy applies to the next connection. */
  private readonly egressCtx: EgressSessionContext;
  private readyTimer: NodeJS.Timeout | undefined;
  /** Repositories are cloned once, before start_session; answers are matched by request id. */
  private preparing: Promise<void> | undefined;
  private reposCloned = false;
  private readonly pending = new Map<string, (a: RepositoryAnswer | Error) => void>();
  /** Gateway token hashes this sandbox may use (a re-adopted sandbox's old one and, after a reconfigure, a new one). */
  private readonly tokenHashes: Set<string>;
  /** Settles once the sandbox exists and `prepare` (e.g. restoring a snapshot) is done; start_session waits for it. */
  private prepared: Promise<void> = Promise.resolve();
  /** True for a sandbox this process did not create (re-adopted after a restart): its runner already has a session. */
  private adopted = false;
  private quiesced = false;
  /** When this runtime's start began (performance.now()), for the "agent ready" log line's time. */
  private startedAt: number | undefined;
  /** Cancels the watch started when the runner disconnected. */
  private cancelWatch: (() => void) | undefined;

  constructor(
    readonly sessionId: string,
    sandboxId: string,
    tokenHash: string,
    /** Undefined for a re-adopted sandbox: its runner has the config, and berthd never stored the token. */
    private runConfig: SessionRunConfig | undefined,
    /** The session's egress policy (and credential rewrite), served on the sandbox's egress socket. */
    egress: Omit<EgressSessionContext, 'sessionId'>,
    private readonly deps: RuntimeDeps,
    private readonly cb: RuntimeCallbacks,
    /** Git repositories the runner clones before the agent starts (session resources). */
    private readonly repositories: readonly RepositoryJob[] = [],
  ) {
    this.sandboxId = sandboxId;
    this.tokenHashes = new Set([tokenHash]);
    this.egressCtx = { ...egress, sessionId };
    this.log = deps.logger.child({ sessionId, sandboxId });
    this.runDir = join(deps.runRoot, sandboxId);
    const socket = join(this.runDir, 'control.sock');
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new Error(`socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes: choose a shorter --data-dir`);
    }
    this.control = new ControlServer(
      socket,
      {
        onHello: (f) => this.onHello(f),
        onFrame: (f) => this.onFrame(f),
        onDisconnect: () => this.onDisconnect(),
      },
      this.log,
    );
  }

  /**
   * Creates the sockets and the sandbox, and resolves when the runner has said hello and got its session (the
   * agent process then starts; `onAgentReady` reports when it can take messages without delay).
   */
  start(
    resources: SandboxResources,
    readOnlyFiles: ReadOnlyFile[] = [],
    /** Runs once the sandbox exists and before its agent starts (e.g. restores a hibernated workspace). */
    prepare?: (info: SandboxInfo) => Promise<void>,
    /** Makes the sandbox a member of a shared sandbox (lifecycle `shared`). */
    shared?: SharedPlacement,
    /** A hibernated session's workspace disk image, which the sandbox starts on (`SandboxSpec.diskImage`). */
    diskImage?: string,
  ): Promise<void> {
    this.starting ??= this.doStart(resources, readOnlyFiles, prepare, shared, diskImage);
    return this.starting;
  }

  /**
   * Takes over a sandbox an earlier berthd started (it outlived that process): listens on its sockets again and
   * resolves once its runner has reconnected and confirmed it still hosts the session. The runner then re-sends
   * whatever the store has not acknowledged.
   */
  adopt(): Promise<void> {
    this.adopted = true;
    this.starting ??= (async () => {
      await this.listenAll();
      if (this.stopped) throw new Error(STOPPED);
      await this.waitReady();
      this.log.info('re-adopted the sandbox');
    })();
    return this.starting;
  }

  /** Accepts another gateway token for this sandbox (a reconfigure of a re-adopted sandbox hands out a new one). */
  acceptToken(hash: string): void {
    this.tokenHashes.add(hash);
  }

  private async listenAll(): Promise<void> {
    await mkdir(this.runDir, { recursive: true, mode: 0o711 });
    if (this.deps.trust && !this.adopted) await writeSandboxTrust(this.runDir, this.deps.trust);
    await Promise.all([
      this.control.listen(),
      this.deps.gateway
        .listen(join(this.runDir, 'model.sock'), (h) => (this.tokenHashes.has(h) ? this.sessionId : undefined))
        .then((s) => (this.gatewayServer = s)),
      this.deps.egress.listen(join(this.runDir, 'egress.sock'), this.egressCtx).then((l) => (this.egressListener = l)),
      this.deps.tunnels?.attach(this.sessionId, this.runDir, (f) => this.send(f)).then((t) => (this.tunnels = t)),
    ]);
  }

  private async doStart(
    resources: SandboxResources,
    readOnlyFiles: ReadOnlyFile[],
    prepare: ((info: SandboxInfo) => Promise<void>) | undefined,
    shared: SharedPlacement | undefined,
    diskImage: string | undefined,
  ): Promise<void> {
    const t0 = performance.now();
    this.startedAt = t0;
    await this.listenAll();
    // destroy() may have run meanwhile; it waits for this start to settle, so nothing is created after it.
    if (this.stopped) throw new Error(STOPPED);
    const ready = this.waitReady();
    // If create() throws, nobody awaits `ready`; its later rejection (on destroy) must not crash the process.
    ready.catch(() => undefined);
    const c0 = performance.now();
    const created = this.deps.driver.create({
      id: this.sandboxId,
      command: [process.execPath, `${SANDBOX_PATHS.install}/${this.deps.runnerEntry}`],
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        HOME: SANDBOX_PATHS.home,
        LANG: 'C.UTF-8',
        [RUNNER_ENV.controlSocket]: SANDBOX_PATHS.controlSocket,
        [RUNNER_ENV.modelSocket]: SANDBOX_PATHS.modelSocket,
        [RUNNER_ENV.egressSocket]: SANDBOX_PATHS.egressSocket,
        [RUNNER_ENV.sandboxId]: this.sandboxId,
        [RUNNER_ENV.logLevel]: this.deps.logLevel,
      },
      runDir: this.runDir,
      installDir: this.deps.installDir,
      // Only what the runner needs: its bundle and the Agent SDK with its CLI. Sources and any data dir kept
      // inside the installation stay out of the sandbox.
      installPaths: ['node_modules', dirname(this.deps.runnerEntry)],
      resources,
      ...(readOnlyFiles.length ? { readOnlyFiles } : {}),
      ...(shared && { shared }),
      ...(diskImage !== undefined ? { diskImage } : {}),
    });
    // Phase times for the "sandbox ready" log line (docs/benchmarks.md B7 reads them).
    const phases: Record<string, number> = {};
    const since = () => Math.round(performance.now() - t0);
    this.prepared = created.then(async (info) => {
      phases.createdMs = since();
      if (prepare) await prepare(info);
      phases.preparedMs = since();
    });
    // The runner's hello waits for it; a failure here fails the start below.
    this.prepared.catch(() => undefined);
    await this.observeCreate(created, c0);
    await this.prepared;
    await ready;
    this.log.info({ ms: since(), ...phases }, 'sandbox ready');
    this.deps.observer?.sandboxReady(this.deps.driver.name, (performance.now() - t0) / 1000);
  }

  /** Awaits the driver's create, reporting its duration and outcome. */
  private async observeCreate(created: Promise<unknown>, t0: number): Promise<void> {
    let ok = false;
    try {
      await created;
      ok = true;
    } finally {
      this.deps.observer?.sandboxCreated(this.deps.driver.name, (performance.now() - t0) / 1000, ok);
    }
  }

  /**
   * New tools or MCP servers for the idle session: the runner restarts its agent process with `config` (the
   * conversation resumes from the transcript), and new connections follow `policy`.
   */
  /** The run config the runner has (it holds the gateway token, which berthd stores only hashed); undefined when adopted. */
  get config(): SessionRunConfig | undefined {
    return this.runConfig;
  }

  reconfigure(config: SessionRunConfig, policy: EgressPolicy): void {
    this.runConfig = config;
    this.egressCtx.policy = policy;
    this.send({ type: 'reconfigure', session_id: this.sessionId, config });
  }

  /** Sends a frame now, or after the runner is ready. */
  send(frame: BerthdFrame): void {
    if (this.ready && this.control.send(frame)) return;
    this.queue.push(frame);
  }

  /** Drops queued user messages (an interrupt jumps the queue and cancels what has not started). */
  dropQueuedMessages(): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((f) => f.type !== 'user_message');
    return before - this.queue.length;
  }

  /**
   * Stops the session's query, destroys the sandbox (every process, mount and cgroup) and removes the sockets.
   * Idempotent.
   */
  async destroy(opts: DestroyOptions = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWatch?.();
    for (const w of this.readyWaiters.splice(0)) w(new Error(STOPPED));
    for (const p of this.pending.values()) p(new Error(STOPPED));
    this.pending.clear();
    // A start in flight finishes (or gives up) first: a create that landed after our driver.destroy would leak.
    await this.starting?.catch(() => undefined);
    // Give the runner a moment to end the CLI cleanly; the cgroup kill below is what guarantees it.
    if (!this.quiesced) await this.stopAgent(1500);
    try {
      await this.deps.driver.destroy(this.sandboxId, opts);
    } finally {
      // Even when the driver could not finish (its sandbox is then the caller's to destroy again): nothing is left
      // to talk to.
      await this.closeSockets();
      await rm(this.runDir, { recursive: true, force: true });
    }
  }

  private async closeSockets(): Promise<void> {
    await this.control.close();
    const gw = this.gatewayServer;
    if (gw) {
      gw.closeAllConnections();
      await new Promise<void>((resolve) => gw.close(() => resolve()));
    }
    await this.egressListener?.close();
    await this.tunnels?.close();
  }

  /**
   * Lets go of the sandbox without stopping it (berthd is shutting down; the next berthd re-adopts it): the sockets
   * close, the runner keeps its unacknowledged events and reconnects to whoever listens next.
   */
  async release(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWatch?.();
    for (const w of this.readyWaiters.splice(0)) w(new Error(STOPPED));
    await this.starting?.catch(() => undefined);
    await this.closeSockets();
  }

  /**
   * Ends the agent process cleanly (its transcript is complete on disk) and leaves the sandbox up, so its files can
   * be saved before {@link destroy}. Resolves when the runner confirms or after `timeoutMs`.
   */
  async quiesce(timeoutMs = 5000): Promise<void> {
    await this.stopAgent(timeoutMs);
    this.quiesced = true;
  }

  /** The sandbox as its driver sees it (its workspace and home on the host). */
  inspect(): Promise<SandboxInfo | undefined> {
    return this.deps.driver.inspect(this.sandboxId);
  }

  private async stopAgent(timeoutMs: number): Promise<void> {
    if (!this.ready || !this.control.connected) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.stopWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
      this.control.send({ type: 'stop_session', session_id: this.sessionId });
    });
  }

  private waitReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the runner did not report ready within ${this.deps.readyTimeoutMs} ms`)),
        this.deps.readyTimeoutMs,
      );
      this.readyTimer = timer;
      this.readyWaiters.push((err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private async onHello(hello: Extract<RunnerFrame, { type: 'hello' }>): Promise<void> {
    this.control.send(await this.cb.welcome());
    const hosted = hello.sessions.some((s) => s.session_id === this.sessionId);
    if (!hosted && !this.runConfig) {
      // A re-adopted runner that lost its session (it cannot have: the runner is the sandbox's top process).
      for (const w of this.readyWaiters.splice(0)) w(new Error('the re-adopted runner no longer hosts the session'));
      return;
    }
    if (!hosted) {
      // The sandbox is prepared (a snapshot restored) before its agent starts.
      try {
        await this.prepared;
      } catch {
        return; // doStart reports it
      }
    }
    if (!hosted && !this.reposCloned && this.repositories.length > 0) {
      // The runner is up; the clones have their own time limit. Not awaited: their answers arrive as frames, which
      // the control server hands over one at a time, after this handler returns.
      clearTimeout(this.readyTimer);
      this.preparing ??= this.prepareThenStart();
      return;
    }
    if (!hosted && this.runConfig)
      this.control.send({ type: 'start_session', session_id: this.sessionId, config: this.runConfig });
    this.markReady();
  }

  /** Clones every repository in order, then starts the session; the first failure fails the start. */
  private async prepareThenStart(): Promise<void> {
    try {
      for (const job of this.repositories) {
        const answer = await this.request(job);
        if (answer instanceof Error) throw answer;
        if (!answer.ok) throw new RepositoryPrepareFailure(job, answer);
      }
    } catch (err) {
      for (const w of this.readyWaiters.splice(0)) w(err as Error);
      return;
    }
    this.reposCloned = true;
    if (this.stopped || !this.runConfig) return;
    this.control.send({ type: 'start_session', session_id: this.sessionId, config: this.runConfig });
    this.markReady();
  }

  private request(job: RepositoryJob): Promise<RepositoryAnswer | Error> {
    const requestId = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(new RepositoryPrepareFailure(job, null, `no answer from the sandbox within ${job.timeoutMs} ms`));
      }, job.timeoutMs);
      this.pending.set(requestId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      const sent = this.control.send({
        type: 'prepare_repository',
        session_id: this.sessionId,
        request_id: requestId,
        ...job.frame,
      });
      if (!sent) {
        const done = this.pending.get(requestId);
        this.pending.delete(requestId);
        done?.(new RepositoryPrepareFailure(job, null, 'the runner disconnected'));
      }
    });
  }

  private markReady(): void {
    this.ready = true;
    const queued = this.queue.splice(0);
    for (const f of queued) this.control.send(f);
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private async onFrame(frame: Exclude<RunnerFrame, { type: 'hello' }>): Promise<void> {
    if (frame.session_id !== this.sessionId) {
      this.log.warn({ claimed: frame.session_id }, 'runner sent a frame for a session it does not host; dropped');
      return;
    }
    if (frame.type === 'session_stopped') {
      this.stopWaiter?.();
      return;
    }
    if (frame.type === 'session_ready') {
      if (this.startedAt !== undefined)
        this.log.info({ ms: Math.round(performance.now() - this.startedAt) }, 'agent ready');
      this.cb.onAgentReady();
      return;
    }
    if (frame.type === 'repository_prepared') {
      const done = this.pending.get(frame.request_id);
      this.pending.delete(frame.request_id);
      if (done) done(frame);
      else this.log.warn('repository answer for no pending request; dropped');
      return;
    }
    await this.cb.onEvent(frame);
    this.control.send({ type: 'ack', session_id: this.sessionId, seq: frame.seq });
  }

  private onDisconnect(): void {
    this.ready = false;
    if (this.stopped) return;
    // The runner redials on its own if it is alive; if the sandbox is gone (or the runner never comes back), the
    // session has lost its agent.
    this.cancelWatch?.();
    this.cancelWatch = watchRunnerReturn({
      connected: () => this.control.connected,
      stopped: () => this.stopped,
      inspect: () => this.deps.driver.inspect(this.sandboxId),
      onLost: (reason) => this.cb.onLost(reason),
      log: this.log,
      ...(this.deps.reconnectDeadlineMs !== undefined && { deadlineMs: this.deps.reconnectDeadlineMs }),
    });
  }
}
