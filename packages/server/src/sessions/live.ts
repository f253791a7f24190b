import { DiskHandoverRefused } from '../drivers/disk/index.js';
import type { DestroyOptions, SandboxDriver } from '../drivers/driver.js';
import type { GitAuthRewriter } from '../egress/git-auth.js';
import type { Logger } from '../logger.js';
import type { SessionObserver } from '../observability/observer.js';
import type { SessionRuntime } from './runtime.js';

/**
 * The live sandboxes of this berthd: each session's runtime, the driver it runs on and its repository rewriter.
 * Removing one (`detach`) frees its concurrency place; destroying it (`teardown`) is tracked so shutdown can wait
 * for every destroy in progress.
 */
export class LiveSandboxes {
  private readonly runtimes = new Map<string, SessionRuntime>();
  private readonly drivers = new Map<string, SandboxDriver>();
  /** Each live session's repository rewriter (it classifies clone failures). */
  readonly gitAuth = new Map<string, GitAuthRewriter>();
  private readonly destroying = new Set<Promise<void>>();

  constructor(
    /** Frees a session's concurrency place. */
    private readonly release: (sessionId: string) => void,
    private readonly logger: Logger,
    private readonly observer: SessionObserver | undefined,
  ) {}

  add(sessionId: string, runtime: SessionRuntime, driver: SandboxDriver): void {
    this.runtimes.set(sessionId, runtime);
    this.drivers.set(sessionId, driver);
  }

  get(sessionId: string): SessionRuntime | undefined {
    return this.runtimes.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.runtimes.has(sessionId);
  }

  driver(sessionId: string): SandboxDriver | undefined {
    return this.drivers.get(sessionId);
  }

  ids(): string[] {
    return [...this.runtimes.keys()];
  }

  /** Forgets a live sandbox (maps, concurrency place) and returns it, still running. */
  detach(sessionId: string): SessionRuntime | undefined {
    this.release(sessionId);
    this.gitAuth.delete(sessionId);
    const runtime = this.runtimes.get(sessionId);
    this.runtimes.delete(sessionId);
    this.drivers.delete(sessionId);
    return runtime;
  }

  /** Destroys a detached sandbox, after its last usage sample (`opts`: the driver's destroy options). */
  async teardown(sessionId: string, runtime: SessionRuntime, opts?: DestroyOptions): Promise<void> {
    const done = (async () => {
      await this.observer?.sessionStopping(sessionId).catch((err: unknown) => {
        this.logger.debug({ err, sessionId }, 'could not take the last usage sample');
      });
      await runtime.destroy(opts).catch((err: unknown) => {
        // A refused disk hand-over is not a failure: the caller saves tars instead, and says so.
        if (!(err instanceof DiskHandoverRefused))
          this.logger.error({ err, sessionId }, 'destroying the sandbox failed');
        throw err;
      });
    })();
    this.destroying.add(done);
    await done.finally(() => this.destroying.delete(done));
  }

  /** Resolves once every destroy in progress has finished (shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.destroying]);
  }
}
