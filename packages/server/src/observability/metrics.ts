import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SandboxStats } from '../drivers/driver.js';
import type { Logger } from '../logger.js';
import type { ModelRequestOutcome, ModelRoute, ObservedStatus } from './observer.js';
import { SandboxUsage } from './sandbox-usage.js';

/** Reads a live sandbox's cgroup usage through its driver (undefined when the sandbox is gone). */
export type UsageReader = (driver: string, sandboxId: string) => Promise<SandboxStats | undefined>;

/** A session with a sandbox in this process: the bounded table the gauges are computed from. */
interface Live {
  sandboxId: string;
  driver: string;
  status: ObservedStatus;
  sandbox: 'starting' | 'ready';
  turnStartedAt: number | undefined;
}

const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_creation'] as const;

/**
 * berthd's Prometheus metrics, in a registry of its own (never prom-client's global one, so two berthd in one
 * process stay apart). Labels take only values from small fixed sets (driver, status, route, HTTP code, decision):
 * never a session, sandbox, host or model name. Per-sandbox cgroup usage is aggregated per driver (sum, max, and a
 * monotonic CPU counter), see docs/observability.md.
 */
export class BerthMetrics {
  readonly registry = new Registry();
  private readonly live = new Map<string, Live>();
  private readonly usage: SandboxUsage;

  private readonly sandboxCreate = new Histogram({
    name: 'berth_sandbox_create_seconds',
    help: 'Time the driver took to create a sandbox (driver.create), by driver and outcome.',
    labelNames: ['driver', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly sandboxReady = new Histogram({
    name: 'berth_sandbox_ready_seconds',
    help: "Time from a session's creation until its runner connected (sockets, sandbox, runner start).",
    labelNames: ['driver'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly sessionsStarted = new Counter({
    name: 'berth_sessions_started_total',
    help: 'Sessions whose sandbox this process started, by driver.',
    labelNames: ['driver'] as const,
    registers: [this.registry],
  });
  private readonly turns = new Counter({
    name: 'berth_session_turns_total',
    help: 'Agent turns started (a session going running).',
    registers: [this.registry],
  });
  private readonly turnSeconds = new Histogram({
    name: 'berth_session_turn_seconds',
    help: 'Wall-clock duration of finished turns (running until idle or terminated).',
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  private readonly modelRequests = new Counter({
    name: 'berth_model_requests_total',
    help: 'Model requests the gateway sent upstream, by route and HTTP status returned to the sandbox.',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  });
  private readonly modelSeconds = new Histogram({
    name: 'berth_model_request_seconds',
    help: 'Model request latency through the gateway, until the last byte of the reply.',
    labelNames: ['route'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  private readonly modelTokens = new Counter({
    name: 'berth_model_tokens_total',
    help: 'Tokens reported in model replies (usage), by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly modelErrors = new Counter({
    name: 'berth_model_request_errors_total',
    help:
      'Failed model requests, by kind: upstream (upstream answered >= 400), gateway (upstream unreachable or the ' +
      'reply broke), unauthenticated / bad_route / too_large / budget (refused by the gateway).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly egress = new Counter({
    name: 'berth_egress_decisions_total',
    help: 'Egress proxy decisions, by decision (allowed|denied) and kind (http|connect).',
    labelNames: ['decision', 'kind'] as const,
    registers: [this.registry],
  });

  constructor(read: UsageReader, logger: Logger) {
    collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    this.usage = new SandboxUsage(this.registry, read, () => this.live.values(), logger);
    const live = this.live;
    new Gauge({
      name: 'berth_sessions',
      help: 'Sessions with a sandbox in this process, by status (idle|running|rescheduling).',
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of ['idle', 'running', 'rescheduling'] as const) this.set({ status: s }, 0);
        for (const l of live.values()) if (l.status !== 'terminated') this.inc({ status: l.status });
      },
    });
    new Gauge({
      name: 'berth_sandboxes',
      help: 'Live sandboxes of this process, by driver and state (starting|ready).',
      labelNames: ['driver', 'state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const l of live.values()) this.inc({ driver: l.driver, state: l.sandbox });
      },
    });
  }

  /**
   * Exposes the warm pools' sizes, summed over environments (an environment id would be an unbounded label):
   * `berth_warm_pool_sandboxes{state="ready|starting"}` and `berth_warm_pool_target`, what they are filling up to.
   */
  watchWarmPool(totals: () => { ready: number; starting: number; target: number }): void {
    new Gauge({
      name: 'berth_warm_pool_sandboxes',
      help: 'Spare sandboxes of the warm pools, summed over environments, by state (ready|starting).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const t = totals();
        this.set({ state: 'ready' }, t.ready);
        this.set({ state: 'starting' }, t.starting);
      },
    });
    new Gauge({
      name: 'berth_warm_pool_target',
      help: 'Spare sandboxes the warm pools are configured to hold, summed over environments.',
      registers: [this.registry],
      collect() {
        this.set(totals().target);
      },
    });
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  sandboxCreated(driver: string, seconds: number, ok: boolean): void {
    this.sandboxCreate.observe({ driver, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  sandboxReadyAfter(driver: string, seconds: number): void {
    this.sandboxReady.observe({ driver }, seconds);
  }

  sessionStarted(sessionId: string, sandboxId: string, driver: string): void {
    this.sessionsStarted.inc({ driver });
    this.live.set(sessionId, { sandboxId, driver, status: 'idle', sandbox: 'starting', turnStartedAt: undefined });
    this.usage.invalidate();
  }

  agentReady(sessionId: string): void {
    const l = this.live.get(sessionId);
    if (l) l.sandbox = 'ready';
  }

  statusChanged(sessionId: string, status: ObservedStatus): void {
    const l = this.live.get(sessionId);
    if (!l || l.status === status) return;
    if (status === 'running') {
      this.turns.inc();
      l.turnStartedAt = performance.now();
    } else if (l.turnStartedAt !== undefined) {
      this.turnSeconds.observe((performance.now() - l.turnStartedAt) / 1000);
      l.turnStartedAt = undefined;
    }
    l.status = status;
  }

  /** Takes the sandbox's last CPU sample, then forgets the session. */
  async sessionStopping(sessionId: string): Promise<void> {
    const l = this.live.get(sessionId);
    if (!l) return;
    this.statusChanged(sessionId, 'terminated');
    await this.usage.retire(l);
    this.live.delete(sessionId);
  }

  modelRequestDone(route: ModelRoute, seconds: number, o: ModelRequestOutcome): void {
    this.modelRequests.inc({ route, code: String(o.status) });
    this.modelSeconds.observe({ route }, seconds);
    if (o.failed) this.modelErrors.inc({ kind: 'gateway' });
    else if (o.status >= 400) this.modelErrors.inc({ kind: 'upstream' });
    const u = o.usage;
    if (!u) return;
    const counts = [u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens];
    TOKEN_TYPES.forEach((type, i) => {
      if (counts[i]! > 0) this.modelTokens.inc({ type }, counts[i]);
    });
  }

  modelRequestRejected(kind: 'unauthenticated' | 'bad_route' | 'too_large' | 'budget'): void {
    this.modelErrors.inc({ kind });
  }

  egressDecision(decision: 'allowed' | 'denied', kind: 'http' | 'connect'): void {
    this.egress.inc({ decision, kind });
  }
}
