import type { UsageTotals } from './types.js';

/**
 * One interval of a session's sandbox, as the sandbox meter measured it: wall time, the part of it a turn was
 * running, memory integrated over time, and the vCPUs the sandbox was allotted.
 */
export interface SandboxUsageRecord {
  /** `sbu_…` */
  id: string;
  session_id: string;
  agent_id: string;
  environment_id: string;
  tenant_id: string;
  /** The sandbox driver (`bwrap`, `gvisor`). */
  driver: string;
  started_at: string;
  /** When the interval ended (the sample that closed it); ranges and days use this time. */
  ended_at: string;
  /** Wall-clock seconds the sandbox existed during the interval. */
  seconds: number;
  /** Seconds of the interval during which a turn was running (session status `running`). */
  active_seconds: number;
  /** Memory charged to the sandbox's cgroup, integrated over the interval, in GiB × seconds. */
  memory_gib_seconds: number;
  /** The session's CPU limit (1 when it has none). */
  vcpus: number;
  /** `seconds × vcpus`: what the container rate applies to. */
  vcpu_seconds: number;
}

/** Sums of sandbox intervals. */
export interface SandboxTotals {
  seconds: number;
  active_seconds: number;
  memory_gib_seconds: number;
  vcpu_seconds: number;
  /** Number of intervals summed. */
  intervals: number;
}

/** What usage can be grouped by. `day` is the UTC date of a row's time. */
export type UsageGroupBy = 'session' | 'agent' | 'environment' | 'tenant' | 'day';

/** A usage query: rows with `from <= time < to`, grouped, paged by group key in ascending order. */
export interface UsageQuery {
  groupBy: UsageGroupBy;
  from?: string | undefined;
  to?: string | undefined;
  sessionId?: string | undefined;
  agentId?: string | undefined;
  environmentId?: string | undefined;
  /** Only this tenant's rows (the tenant-scoped store always sets it). */
  tenant?: string | undefined;
  limit: number;
  /** Opaque cursor from a previous page. */
  page?: string | undefined;
}

/** One group of a usage query: its key (an id, a tenant, or `YYYY-MM-DD`), token sums per model and sandbox sums. */
export interface UsageGroup {
  key: string;
  tokens: UsageTotals;
  sandbox: SandboxTotals;
}
