import type { PriceTable } from '../budget/prices.js';
import type { ModelUsageTotals, SandboxTotals, UsageGroup, UsageGroupBy, UsageTotals } from '../store/store.js';

/** Costs in US dollars, rounded to micro-dollars: model tokens, sandbox time, and their sum. */
export interface CostUsd {
  tokens: number;
  sandbox: number;
  total: number;
}

/** Rounds dollars to micro-dollars (what the API shows; sums are computed before rounding). */
export function usd(cents: number): number {
  return Math.round(cents * 10_000) / 1_000_000;
}

/** What a ledger's quantities cost at the prices in force now; `total` is the sum of the two parts as shown. */
export function costOf(tokens: readonly ModelUsageTotals[], sandbox: SandboxTotals, prices: PriceTable): CostUsd {
  const t = usd(prices.tokenCostCents(tokens));
  const s = usd(prices.sandboxCostCents(sandbox.vcpu_seconds));
  return { tokens: t, sandbox: s, total: Math.round((t + s) * 1_000_000) / 1_000_000 };
}

/** Sandbox sums as the API shows them (seconds to the millisecond, GiB-seconds to 6 places). */
export function sandboxWire(s: SandboxTotals): object {
  const r = (n: number, p: number) => Math.round(n * p) / p;
  return {
    seconds: r(s.seconds, 1000),
    active_seconds: r(s.active_seconds, 1000),
    memory_gib_seconds: r(s.memory_gib_seconds, 1_000_000),
    vcpu_seconds: r(s.vcpu_seconds, 1000),
    intervals: s.intervals,
  };
}

function tokenWire(t: Omit<UsageTotals, 'by_model'>): object {
  return {
    model_requests: t.requests,
    input_tokens: t.input_tokens,
    output_tokens: t.output_tokens,
    cache_read_input_tokens: t.cache_read_input_tokens,
    cache_creation_input_tokens: t.cache_creation_input_tokens,
  };
}

/** One group of `GET /v1/berth/usage`. */
export function usageGroupWire(g: UsageGroup, groupBy: UsageGroupBy, prices: PriceTable): object {
  return {
    type: 'usage_group',
    group_by: groupBy,
    key: g.key,
    ...tokenWire(g.tokens),
    by_model: g.tokens.by_model.map((m) => ({
      model: m.model,
      ...tokenWire(m),
      cost_usd: usd(prices.tokenCostCents([m])),
    })),
    sandbox: sandboxWire(g.sandbox),
    cost_usd: costOf(g.tokens.by_model, g.sandbox, prices),
  };
}
