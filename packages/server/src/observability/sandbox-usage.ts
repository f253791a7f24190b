import { Counter, Gauge, type Registry } from 'prom-client';
import type { SandboxStats } from '../drivers/driver.js';
import type { Logger } from '../logger.js';

/** The part of a live session the usage metrics need. */
export interface UsageTarget {
  sandboxId: string;
  driver: string;
}

/**
 * A scrape reuses a sample this recent (one scrape collects several metrics from the same sample), unless the set of
 * sandboxes changed since.
 */
const SAMPLE_REUSE_MS = 500;

/**
 * Per-sandbox cgroup usage (memory.current / memory.usage_in_bytes, cpu.stat usage_usec / cpuacct.usage), read at
 * scrape time and exposed per driver without a sandbox label: the memory sum and the largest sandbox, and CPU as a
 * true counter. The counter stays monotonic as sandboxes come and go: a sandbox's last sample is kept as "retired"
 * CPU when it stops (sampled just before destroy) or when it vanishes between scrapes (then the CPU it used since
 * the previous scrape is not counted).
 */
export class SandboxUsage {
  private readonly lastCpuUsec = new Map<string, { driver: string; usec: number }>();
  private readonly retiredUsec = new Map<string, number>();
  private readonly reportedUsec = new Map<string, number>();
  private memory = new Map<string, { sum: number; max: number }>();
  private sampling: { at: number; done: Promise<void> } | undefined;
  /** Sandboxes already retired (with when): a read still in flight for one must not bring it back. */
  private readonly gone = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly read: (driver: string, sandboxId: string) => Promise<SandboxStats | undefined>,
    private readonly targets: () => Iterable<UsageTarget>,
    private readonly logger: Logger,
  ) {
    // collect() runs with `this` bound to the metric; these arrows reach the sampler.
    const sample = () => this.sample();
    const memory = () => this.memory;
    const cpuDeltas = () => this.cpuDeltas();
    new Gauge({
      name: 'berth_sandboxes_memory_bytes',
      help: 'Memory charged to all live sandboxes of this process (sum of their cgroups), by driver.',
      labelNames: ['driver'] as const,
      registers: [registry],
      async collect() {
        await sample();
        this.reset();
        for (const [driver, m] of memory()) this.set({ driver }, m.sum);
      },
    });
    new Gauge({
      name: 'berth_sandbox_memory_max_bytes',
      help: 'Memory of the largest live sandbox of this process, by driver.',
      labelNames: ['driver'] as const,
      registers: [registry],
      async collect() {
        await sample();
        this.reset();
        for (const [driver, m] of memory()) this.set({ driver }, m.max);
      },
    });
    new Counter({
      name: 'berth_sandbox_cpu_seconds_total',
      help: "CPU time used by this process's sandboxes (their cgroups), live and stopped, by driver.",
      labelNames: ['driver'] as const,
      registers: [registry],
      async collect() {
        await sample();
        for (const [driver, seconds] of cpuDeltas()) this.inc({ driver }, seconds);
      },
    });
  }

  /** A sandbox is about to be destroyed: its final CPU sample becomes retired CPU. */
  async retire(t: UsageTarget): Promise<void> {
    await this.readOne(t);
    this.retireId(t.sandboxId);
    this.gone.set(t.sandboxId, performance.now());
    this.invalidate();
  }

  /** The set of sandboxes changed: the next scrape must not reuse the last sample. */
  invalidate(): void {
    this.sampling = undefined;
  }

  private retireId(sandboxId: string): void {
    const last = this.lastCpuUsec.get(sandboxId);
    if (!last) return;
    this.lastCpuUsec.delete(sandboxId);
    this.retiredUsec.set(last.driver, (this.retiredUsec.get(last.driver) ?? 0) + last.usec);
  }

  /** CPU seconds per driver not yet added to the counter (never negative: the counter only goes up). */
  private cpuDeltas(): Array<[string, number]> {
    const totals = new Map(this.retiredUsec);
    for (const { driver, usec } of this.lastCpuUsec.values()) totals.set(driver, (totals.get(driver) ?? 0) + usec);
    const out: Array<[string, number]> = [];
    for (const [driver, total] of totals) {
      const reported = this.reportedUsec.get(driver) ?? 0;
      // A zero increment still creates the driver's series, so it is there from the first sandbox on.
      out.push([driver, Math.max(0, total - reported) / 1e6]);
      this.reportedUsec.set(driver, Math.max(total, reported));
    }
    return out;
  }

  private sample(): Promise<void> {
    const now = performance.now();
    if (this.sampling && now - this.sampling.at < SAMPLE_REUSE_MS) return this.sampling.done;
    this.sampling = { at: now, done: this.doSample() };
    return this.sampling.done;
  }

  private async doSample(): Promise<void> {
    const now = performance.now();
    const targets = [...this.targets()];
    const live = new Set(targets.map((t) => t.sandboxId));
    for (const id of [...this.lastCpuUsec.keys()]) if (!live.has(id)) this.retireId(id);
    for (const [id, at] of this.gone) if (now - at > 60_000) this.gone.delete(id);
    const stats = await Promise.all(targets.map((t) => this.readOne(t)));
    const memory = new Map<string, { sum: number; max: number }>();
    targets.forEach((t, i) => {
      const bytes = stats[i]?.memoryBytes;
      if (bytes === null || bytes === undefined) return;
      const m = memory.get(t.driver) ?? { sum: 0, max: 0 };
      m.sum += bytes;
      m.max = Math.max(m.max, bytes);
      memory.set(t.driver, m);
    });
    this.memory = memory;
  }

  private async readOne(t: UsageTarget): Promise<SandboxStats | undefined> {
    const s = await this.read(t.driver, t.sandboxId).catch((err: unknown) => {
      this.logger.debug({ err, sandboxId: t.sandboxId }, 'could not read sandbox usage');
      return undefined;
    });
    const usec = s?.cpuUsageUsec;
    if (usec !== null && usec !== undefined && !this.gone.has(t.sandboxId)) {
      const prev = this.lastCpuUsec.get(t.sandboxId)?.usec ?? 0;
      this.lastCpuUsec.set(t.sandboxId, { driver: t.driver, usec: Math.max(prev, usec) });
    }
    return s;
  }
}
