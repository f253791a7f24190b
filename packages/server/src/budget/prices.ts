import type { ModelUsageTotals } from '../store/store.js';

/** Prices of one model family, in USD per million tokens. */
export interface ModelPrice {
  /** Model ids starting with this (the longest matching prefix wins). */
  prefix: string;
  input: number;
  output: number;
  /** Writing the prompt cache (5-minute lifetime; the ledger does not split lifetimes). */
  cache_write: number;
  cache_read: number;
}

/**
 * Anthropic's public list prices (USD per million tokens) as of this build. Budgets are enforced at list price, as
 * the reference says, so they fire at or before the actual charge. docs/api.md ("Budgets") lists them.
 */
export const LIST_PRICES: readonly ModelPrice[] = [
  { prefix: 'claude-opus-4-5', input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  { prefix: 'claude-opus-4-6', input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  { prefix: 'claude-opus-4', input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  { prefix: 'claude-3-opus', input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  { prefix: 'claude-sonnet-4', input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  { prefix: 'claude-3-7-sonnet', input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  { prefix: 'claude-3-5-sonnet', input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  { prefix: 'claude-haiku-4', input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  { prefix: 'claude-3-5-haiku', input: 0.8, output: 4, cache_write: 1, cache_read: 0.08 },
  { prefix: 'claude-3-haiku', input: 0.25, output: 1.25, cache_write: 0.3, cache_read: 0.03 },
];

/** Price of a vCPU-hour of sandbox time when the operator sets none (Anthropic's hosting guidance: about $0.05). */
export const DEFAULT_CONTAINER_VCPU_HOUR_USD = 0.05;

/**
 * The prices costs are computed with: the built-in list prices, overridden or extended by the operator's price file
 * (`--price-file`), and the container rate. Built once in the composition root; budgets, `usage.list_cost` and the
 * usage API all price the ledger with the same table, at the time they are asked (the ledger stores quantities).
 */
export class PriceTable {
  private readonly models: readonly ModelPrice[];
  /** The most expensive row: what a ledger row of a model without a price is charged at (never under-count). */
  private readonly dearest: ModelPrice;

  constructor(
    overrides: readonly ModelPrice[] = [],
    /** USD per vCPU-hour of sandbox time. */
    readonly containerVcpuHourUsd = DEFAULT_CONTAINER_VCPU_HOUR_USD,
  ) {
    const byPrefix = new Map(LIST_PRICES.map((p) => [p.prefix, p]));
    for (const p of overrides) byPrefix.set(p.prefix, p);
    this.models = [...byPrefix.values()];
    this.dearest = this.models.reduce((a, b) => (b.output > a.output ? b : a));
  }

  /** Every model price in force, built-in rows first. */
  list(): readonly ModelPrice[] {
    return this.models;
  }

  /** The price of a model id (longest matching prefix), or undefined when it has none. */
  priceOf(model: string): ModelPrice | undefined {
    let best: ModelPrice | undefined;
    for (const p of this.models) {
      if (model.startsWith(p.prefix) && (!best || p.prefix.length > best.prefix.length)) best = p;
    }
    return best;
  }

  /** The cost of token usage, in US cents (fractional); a model without a price is charged at the dearest row. */
  tokenCostCents(byModel: readonly ModelUsageTotals[]): number {
    let usdTimesMillion = 0;
    for (const u of byModel) {
      const p = (u.model ? this.priceOf(u.model) : undefined) ?? this.dearest;
      usdTimesMillion +=
        u.input_tokens * p.input +
        u.output_tokens * p.output +
        u.cache_creation_input_tokens * p.cache_write +
        u.cache_read_input_tokens * p.cache_read;
    }
    return usdTimesMillion / 10_000;
  }

  /** The cost of sandbox time, in US cents (fractional). */
  sandboxCostCents(vcpuSeconds: number): number {
    return (vcpuSeconds / 3600) * this.containerVcpuHourUsd * 100;
  }
}

/** A cost as the API's monetary amount: integer minor units (cents), rounded up so a cap fires at or before it. */
export function monetaryAmount(cents: number): { amount: string; currency: 'USD' } {
  return { amount: String(Math.ceil(cents - 1e-9)), currency: 'USD' };
}
