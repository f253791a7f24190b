import { newId } from '@berth/protocol';
import type { SandboxStats } from '../drivers/driver.js';
import type { Logger } from '../logger.js';
import type { ObservedStatus, SessionObserver } from '../observability/observer.js';
import { DEFAULT_TENANT, type Store } from '../store/store.js';

const GIB = 1024 ** 3;

/** What a live sandbox's ledger rows copy from its session. */
interface Meta {
  agent_id: string;
  environment_id: string;
  tenant_id: string;
  vcpus: number;
}

interface Live {
  sessionId: string;
  sandboxId: string;
  driver: string;
  meta: Promise<Meta>;
  /** Start of the interval not yet written (ms since the epoch). */
  since: number;
  /** Running time already closed within that interval (ms). */
  activeMs: number;
  /** When the turn in progress started (or the interval did, if later); undefined while no turn runs. */
  runningSince: number | undefined;
  /** The memory of the previous sample (bytes), for the trapezoid over the next interval. */
  lastMemory: number | undefined;
  /** Writes of this sandbox, in order (a sample never overlaps the final one). */
  chain: Promise<void>;
}

export interface SandboxMeterDeps {
  store: Store;
  /** The cgroup usage of a sandbox (the driver's `stats`). */
  stats: (driver: string, sandboxId: string) => Promise<SandboxStats | undefined>;
  /** How often every live sandbox is sampled. */
  intervalMs: number;
  logger: Logger;
  /** Wall clock in ms (tests pass their own). */
  now?: () => number;
}

/**
 * Sandbox time for the usage ledger. Fed by the session hooks (started, status, stopping), it samples every live
 * sandbox each interval and writes one `sandbox_usage` row per sandbox per interval: wall seconds, the seconds a
 * turn ran, memory GiB-seconds (cgroup memory, trapezoid between samples) and vCPU-seconds (the session's CPU
 * limit, 1 when none). The last interval is written when the sandbox stops, before it is destroyed. What is lost
 * on a crash is at most one interval per sandbox.
 */
export class SandboxMeter implements SessionObserver {
  private readonly live = new Map<string, Live>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly deps: SandboxMeterDeps) {
    this.now = deps.now ?? Date.now;
    this.timer = setInterval(() => void this.sample(), deps.intervalMs);
    this.timer.unref();
  }

  sessionStarted(sessionId: string, sandboxId: string, driver: string): void {
    this.live.set(sessionId, {
      sessionId,
      sandboxId,
      driver,
      meta: this.metaOf(sessionId),
      since: this.now(),
      activeMs: 0,
      runningSince: undefined,
      lastMemory: undefined,
      chain: Promise.resolve(),
    });
  }

  agentReady(): void {}

  messageSent(): void {}

  statusChanged(sessionId: string, status: ObservedStatus): void {
    const l = this.live.get(sessionId);
    if (!l) return;
    if (status === 'running') {
      l.runningSince ??= this.now();
    } else if (l.runningSince !== undefined) {
      l.activeMs += this.now() - l.runningSince;
      l.runningSince = undefined;
    }
  }

  /** Writes the sandbox's last interval (called before it is destroyed, so its cgroup is still readable). */
  async sessionStopping(sessionId: string): Promise<void> {
    const l = this.live.get(sessionId);
    if (!l) return;
    this.live.delete(sessionId);
    this.statusChanged(sessionId, 'terminated');
    await this.enqueue(l);
  }

  /** Stops sampling and waits for writes in flight (the sessions' own last intervals come from sessionStopping). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.live.values()].map((l) => l.chain));
  }

  private async metaOf(sessionId: string): Promise<Meta> {
    const s = await this.deps.store.getSession(sessionId).catch(() => undefined);
    const cpus = (s?.berth.resources as { cpus?: unknown } | undefined)?.cpus;
    return {
      agent_id: s?.agent_id ?? '',
      environment_id: s?.environment_id ?? '',
      tenant_id: s?.tenant_id ?? DEFAULT_TENANT,
      vcpus: typeof cpus === 'number' && cpus > 0 ? cpus : 1,
    };
  }

  /** Closes and writes the current interval of every live sandbox (the timer calls this every interval). */
  async sample(): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((l) => this.enqueue(l)));
  }

  private enqueue(l: Live): Promise<void> {
    l.chain = l.chain.then(() =>
      this.flush(l).catch((err: unknown) => {
        this.deps.logger.error({ err, sessionId: l.sessionId }, 'could not write sandbox time to the usage ledger');
      }),
    );
    return l.chain;
  }

  /** Closes the current interval now and writes it. */
  private async flush(l: Live): Promise<void> {
    // Time bookkeeping happens before any await, so status changes during the write count in the next interval.
    const start = l.since;
    const end = this.now();
    let activeMs = l.activeMs;
    if (l.runningSince !== undefined) {
      activeMs += end - l.runningSince;
      l.runningSince = end;
    }
    l.since = end;
    l.activeMs = 0;
    if (end <= start) return;
    const stats = await this.deps.stats(l.driver, l.sandboxId).catch(() => undefined);
    const memory = stats?.memoryBytes ?? l.lastMemory ?? 0;
    const previous = l.lastMemory ?? memory;
    l.lastMemory = memory;
    const meta = await l.meta;
    const seconds = (end - start) / 1000;
    await this.deps.store.recordSandboxUsage({
      id: newId('sandboxUsage'),
      session_id: l.sessionId,
      agent_id: meta.agent_id,
      environment_id: meta.environment_id,
      tenant_id: meta.tenant_id,
      driver: l.driver,
      started_at: new Date(start).toISOString(),
      ended_at: new Date(end).toISOString(),
      seconds,
      active_seconds: Math.min(seconds, activeMs / 1000),
      memory_gib_seconds: ((previous + memory) / 2 / GIB) * seconds,
      vcpus: meta.vcpus,
      vcpu_seconds: seconds * meta.vcpus,
    });
  }
}
