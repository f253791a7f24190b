import type { ModelUsageTotals } from '../store/store.js';

/** List prices of one model family, in USD per million tokens. */
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

/** The most expensive row: what a ledger row of a model without a list price is charged at (never under-count). */
const DEAREST = LIST_PRICES.reduce((a, b) => (b.output > a.output ? b : a));

/** The list price of a model id, or undefined when it has none. */
export function priceOf(model: string): ModelPrice | undefined {
  let best: ModelPrice | undefined;
  for (const p of LIST_PRICES) {
    if (model.startsWith(p.prefix) && (!best || p.prefix.length > best.prefix.length)) best = p;
  }
  return best;
}

/** The list cost of a session's ledger, in US cents (fractional). */
export function listCostCents(byModel: readonly ModelUsageTotals[]): number {
  let usdTimesMillion = 0;
  for (const u of byModel) {
    const p = (u.model ? priceOf(u.model) : undefined) ?? DEAREST;
    usdTimesMillion +=
      u.input_tokens * p.input +
      u.output_tokens * p.output +
      u.cache_creation_input_tokens * p.cache_write +
      u.cache_read_input_tokens * p.cache_read;
  }
  return usdTimesMillion / 10_000;
}

/** A cost as the API's monetary amount: integer minor units (cents), rounded up so a cap fires at or before it. */
export function monetaryAmount(cents: number): { amount: string; currency: 'USD' } {
  return { amount: String(Math.ceil(cents - 1e-9)), currency: 'USD' };
}
