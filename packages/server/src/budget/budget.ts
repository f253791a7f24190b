import { BUDGET_REACHED_MARKER } from '@berth/protocol';
import { ApiError } from '../errors.js';
import type { JsonObject } from '../store/store.js';
import type { PriceTable } from './prices.js';

/** A session budget's cap in cents, or undefined when the session has none. */
export function budgetCents(budget: JsonObject | null | undefined): number | undefined {
  const max = (budget as { max_list_cost?: { amount?: unknown } } | null | undefined)?.max_list_cost?.amount;
  return typeof max === 'string' ? Number(max) : undefined;
}

/** Refuses a budget for an agent whose model has no price (`model_not_budgetable`, as the reference). */
export function assertBudgetable(agent: JsonObject, prices: PriceTable): void {
  const model = (agent.model as { id?: string } | undefined)?.id ?? '';
  if (!prices.priceOf(model)) {
    throw new ApiError(
      'invalid_request',
      `model_not_budgetable: model '${model}' has no price in this server's price table, so a budget cannot be enforced. ` +
        'Create the session without budget, use a model listed in docs/api.md ("Budgets"), or give it a price in --price-file.',
    );
  }
}

/** The gateway's refusal text once a session's spend reached its cap. */
export function budgetReachedMessage(spentCents: number, capCents: number): string {
  return (
    `${BUDGET_REACHED_MARKER}: the session's list cost (${spentCents.toFixed(2)} cents) reached its budget ` +
    `(max_list_cost ${capCents} cents). Raise the budget with sessions.update to continue.`
  );
}
