import { BUDGET_REACHED_MARKER } from '@berth/protocol';
import type { Store, TenantRecord } from '../store/store.js';
import type { PriceTable } from './prices.js';

/** The first instant of `now`'s UTC calendar month, and of the next one (the month a tenant budget counts). */
export function monthOf(now: Date): { month: string; from: string; to: string } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  return {
    month: `${y}-${String(m + 1).padStart(2, '0')}`,
    from: new Date(Date.UTC(y, m, 1)).toISOString(),
    to: new Date(Date.UTC(y, m + 1, 1)).toISOString(),
  };
}

/** What a tenant spent this month against its budget. */
export interface TenantSpend {
  /** `YYYY-MM` (UTC). */
  month: string;
  /** List cost of the tenant's model tokens this month, in cents (fractional). */
  spentCents: number;
  /** The budget's cap in cents; null without a budget. */
  capCents: number | null;
  /** When the month (and so the spend) starts over. */
  resetsAt: string;
}

/**
 * Per-tenant monthly budgets (issue 5 item 2). The spend is the list cost of the tenant's ledger rows in the current
 * UTC month, read from the ledger on each check, so every replica sees the same figure and nothing is cached that
 * could go stale. Sandbox time is not counted: like a session's `max_list_cost`, a budget caps token list cost.
 */
export class TenantBudgets {
  constructor(
    private readonly store: Store,
    private readonly prices: PriceTable,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The tenant's spend this month (the cap is null when it has no budget). */
  async spend(tenant: TenantRecord): Promise<TenantSpend> {
    const m = monthOf(this.now());
    const cap = tenant.budget ? Number(tenant.budget.max_list_cost.amount) : null;
    const page = await this.store.usageGroups({
      groupBy: 'tenant',
      tenant: tenant.id,
      from: m.from,
      to: m.to,
      limit: 1,
    });
    const byModel = page.data[0]?.tokens.by_model ?? [];
    return { month: m.month, spentCents: this.prices.tokenCostCents(byModel), capCents: cap, resetsAt: m.to };
  }

  /**
   * The refusal text when the tenant of a session has a budget and this month's spend reached it; undefined when
   * the request may go upstream. Carries BUDGET_REACHED_MARKER, so the runner ends the turn with `budget_reached`.
   */
  async refusal(tenantId: string | undefined): Promise<string | undefined> {
    if (tenantId === undefined) return undefined;
    const tenant = await this.store.getTenant(tenantId);
    if (!tenant?.budget) return undefined;
    const s = await this.spend(tenant);
    if (s.capCents === null || s.spentCents < s.capCents) return undefined;
    return tenantBudgetMessage(tenant.id, s);
  }
}

/** What a session of an exhausted tenant is told (and what the 402 on session create says). */
export function tenantBudgetMessage(tenantId: string, s: TenantSpend): string {
  return (
    `${BUDGET_REACHED_MARKER}: tenant '${tenantId}' spent ${s.spentCents.toFixed(2)} cents of list cost in ${s.month}, ` +
    `reaching its monthly budget (max_list_cost ${s.capCents} cents). An admin can raise it with ` +
    `POST /v1/berth/admin/tenants/${tenantId} ({"budget": …}); otherwise it resets at ${s.resetsAt}.`
  );
}
