import type { Logger } from '../logger.js';
import type { SessionRuntime } from './runtime.js';

/**
 * A ready sandbox waiting for a session: its runner is connected and its agent process (the CLI) is started with
 * `key`'s run config, under a session id, gateway token and SDK session id chosen for it. A session whose run config
 * has the same key takes it over whole: those ids become the session's.
 */
export interface Spare {
  environmentId: string;
  /** The run config's fingerprint (everything but the per-sandbox token and SDK session id). */
  key: string;
  sessionId: string;
  sandboxId: string;
  tokenHash: string;
  sdkSessionId: string;
  runtime: SessionRuntime;
  /** True once the agent process has answered its initialize request. */
  agentReady: boolean;
}

/** What the pool needs from the session service. */
export interface SparePort {
  /** Starts a new spare for the environment from its template, or undefined when it has none. */
  make(environmentId: string, template: Template): Promise<Spare | undefined>;
  /** Destroys a spare that is no longer wanted (or broke). */
  discard(spare: Spare): Promise<void>;
}

/** The agent snapshot spares of an environment start with, and its key. */
export interface Template {
  key: string;
  agent: Record<string, unknown>;
}

/**
 * Per-environment warm pools (`berth.warm_pool.size`): ready sandboxes with a runner and a started CLI, so a new
 * session skips the sandbox start and the CLI start-up. A pool warms for the agent of its environment's latest
 * session (its template): the first session (after start-up or an agent change) starts cold and teaches the pool.
 * A spare is only ever served once: a claimed spare leaves the pool, and refills are always new sandboxes.
 */
export class WarmPool {
  private readonly spares = new Map<string, Spare[]>();
  private readonly sizes = new Map<string, number>();
  private readonly templates = new Map<string, Template>();
  private readonly filling = new Set<string>();
  private closed = false;

  constructor(
    private readonly port: SparePort,
    private readonly logger: Logger,
  ) {}

  /** Sets an environment's pool size (0 drains it) and refills it in the background. */
  configure(environmentId: string, size: number): void {
    this.sizes.set(environmentId, size);
    const extra = (this.spares.get(environmentId) ?? []).splice(size);
    for (const s of extra) void this.port.discard(s);
    this.refill(environmentId);
  }

  /**
   * Takes a ready spare of the environment whose run config matches `key`, or undefined. A session that does not
   * match still teaches the pool its agent: later spares start with it (the old ones are replaced).
   */
  take(environmentId: string, template: Template): Spare | undefined {
    if ((this.sizes.get(environmentId) ?? 0) === 0) return undefined;
    const current = this.templates.get(environmentId);
    if (current?.key !== template.key) {
      this.templates.set(environmentId, template);
      const stale = this.spares.get(environmentId) ?? [];
      this.spares.set(environmentId, []);
      for (const s of stale) void this.port.discard(s);
      this.refill(environmentId);
      return undefined;
    }
    const list = this.spares.get(environmentId) ?? [];
    const i = list.findIndex((s) => s.key === template.key && s.agentReady);
    const spare = i >= 0 ? list.splice(i, 1)[0] : undefined;
    this.refill(environmentId);
    return spare;
  }

  /** A spare's sandbox went away before anyone took it: forget it and start another. */
  lost(spare: Spare): void {
    const list = this.spares.get(spare.environmentId) ?? [];
    const i = list.indexOf(spare);
    if (i >= 0) list.splice(i, 1);
    void this.port.discard(spare);
    this.refill(spare.environmentId);
  }

  /** Over every environment: spares ready to serve, spares still starting, and the sizes configured (metrics). */
  totals(): { ready: number; starting: number; target: number } {
    let ready = 0;
    let starting = 0;
    for (const list of this.spares.values()) {
      for (const s of list) {
        if (s.agentReady) ready++;
        else starting++;
      }
    }
    let target = 0;
    for (const n of this.sizes.values()) target += n;
    return { ready, starting, target };
  }

  /** Ready spares per environment (metrics, tests). */
  size(environmentId: string): number {
    return (this.spares.get(environmentId) ?? []).filter((s) => s.agentReady).length;
  }

  /** Destroys every spare (berthd closing). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.spares.values()].flat();
    this.spares.clear();
    await Promise.allSettled(all.map((s) => this.port.discard(s)));
  }

  /** Starts spares one at a time until the environment has its size (one fill loop per environment). */
  private refill(environmentId: string): void {
    if (this.closed || this.filling.has(environmentId)) return;
    const template = this.templates.get(environmentId);
    if (!template) return;
    this.filling.add(environmentId);
    void (async () => {
      try {
        for (;;) {
          const list = this.spares.get(environmentId) ?? [];
          const want = this.sizes.get(environmentId) ?? 0;
          const t = this.templates.get(environmentId);
          if (this.closed || !t || list.length >= want) return;
          const spare = await this.port.make(environmentId, t);
          if (!spare) return;
          if (this.closed || this.templates.get(environmentId)?.key !== spare.key) {
            await this.port.discard(spare);
            continue;
          }
          this.spares.set(environmentId, [...(this.spares.get(environmentId) ?? []), spare]);
        }
      } catch (err) {
        this.logger.warn({ err, environmentId }, 'warm pool: starting a spare sandbox failed');
      } finally {
        this.filling.delete(environmentId);
      }
    })();
  }
}
