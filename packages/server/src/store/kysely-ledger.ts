import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { Database } from './schema.js';
import type { ModelRequestRecord, ModelUsageTotals, Page, UsageTotals } from './types.js';
import type { SandboxTotals, SandboxUsageRecord, UsageGroup, UsageGroupBy, UsageQuery } from './ledger-types.js';
import { decodeCursor, encodeCursor } from './cursor.js';

const COUNT_KEYS = [
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_input_tokens',
  'requests',
] as const;
const SANDBOX_KEYS = ['seconds', 'active_seconds', 'memory_gib_seconds', 'vcpu_seconds', 'intervals'] as const;

type LedgerTable = 'model_requests' | 'sandbox_usage';
/** The time a row counts at: when the reply was recorded, or when the sandbox interval ended. */
const TIME_COLUMN: Record<LedgerTable, string> = { model_requests: 'created_at', sandbox_usage: 'ended_at' };
const KEY_COLUMN: Record<Exclude<UsageGroupBy, 'day'>, string> = {
  session: 'session_id',
  agent: 'agent_id',
  environment: 'environment_id',
  tenant: 'tenant_id',
};

// Queries over either ledger table: Kysely's column typing cannot follow a table chosen at run time.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySelect = SelectQueryBuilder<any, any, any>;

/** Zeroed token sums. */
export function zeroTokens(): Omit<ModelUsageTotals, 'model'> {
  return { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, requests: 0 };
}

/** Zeroed sandbox sums. */
export function zeroSandbox(): SandboxTotals {
  return { seconds: 0, active_seconds: 0, memory_gib_seconds: 0, vcpu_seconds: 0, intervals: 0 };
}

/**
 * The usage ledger half of KyselyStore (same code for SQLite and PostgreSQL): model requests from the gateway,
 * sandbox intervals from the sandbox meter, and the grouped sums the usage API serves. Ledger rows are never
 * deleted with their session: they are what was spent.
 */
export class KyselyLedger {
  constructor(private readonly db: Kysely<Database>) {}

  async recordModelRequest(rec: ModelRequestRecord): Promise<boolean> {
    const r = await this.db
      .insertInto('model_requests')
      .values(rec)
      .onConflict((oc) => oc.column('message_id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async recordSandboxUsage(rec: SandboxUsageRecord): Promise<void> {
    await this.db.insertInto('sandbox_usage').values(rec).execute();
  }

  async sessionUsages(sessionIds: string[]): Promise<Map<string, UsageTotals>> {
    const out = new Map<string, UsageTotals>(sessionIds.map((id) => [id, { ...zeroTokens(), by_model: [] }]));
    if (sessionIds.length === 0) return out;
    const rows = await tokenSums(this.db, sql.raw<string>('session_id'), (q) =>
      q.where('session_id', 'in', sessionIds),
    );
    for (const r of rows) addTokens(out.get(r.k)!, r);
    return out;
  }

  async sandboxUsages(sessionIds: string[]): Promise<Map<string, SandboxTotals>> {
    const out = new Map<string, SandboxTotals>(sessionIds.map((id) => [id, zeroSandbox()]));
    if (sessionIds.length === 0) return out;
    const rows = await sandboxSums(this.db, sql.raw<string>('session_id'), (q) =>
      q.where('session_id', 'in', sessionIds),
    );
    for (const r of rows) out.set(r.k, sandboxOf(r));
    return out;
  }

  /** One page of groups (ascending key) with their sums; groups with rows in either table appear. */
  async usageGroups(q: UsageQuery): Promise<Page<UsageGroup>> {
    const filter = (table: LedgerTable) => (b: AnySelect) => filtered(b, table, q);
    const after = q.page ? decodeCursor(q.page, isGroupCursor).k : undefined;
    const keysOf = (table: LedgerTable) =>
      filter(table)(this.db.selectFrom(table).select(keyExpr(q.groupBy, table).as('k')) as AnySelect);
    let keysQ = this.db.selectFrom(keysOf('model_requests').union(keysOf('sandbox_usage')).as('u')).select('u.k');
    if (after !== undefined) keysQ = keysQ.where('u.k', '>', after);
    const keyRows = (await keysQ
      .orderBy('u.k')
      .limit(q.limit + 1)
      .execute()) as Array<{ k: string }>;
    const keys = keyRows.slice(0, q.limit).map((r) => r.k);
    if (keys.length === 0) return { data: [], next: null, prev: null };
    const groups = new Map<string, UsageGroup>(
      keys.map((k) => [k, { key: k, tokens: { ...zeroTokens(), by_model: [] }, sandbox: zeroSandbox() }]),
    );
    const inKeys = (table: LedgerTable) => (b: AnySelect) =>
      filter(table)(b).where(keyExpr(q.groupBy, table), 'in', keys);
    for (const r of await tokenSums(this.db, keyExpr(q.groupBy, 'model_requests'), inKeys('model_requests'))) {
      addTokens(groups.get(r.k)!.tokens, r);
    }
    for (const r of await sandboxSums(this.db, keyExpr(q.groupBy, 'sandbox_usage'), inKeys('sandbox_usage'))) {
      groups.get(r.k)!.sandbox = sandboxOf(r);
    }
    const more = keyRows.length > q.limit;
    return { data: [...groups.values()], next: more ? encodeCursor({ k: keys[keys.length - 1] }) : null, prev: null };
  }
}

/** The group key of a row; built from constants only (a literal expression, so GROUP BY matches it on PostgreSQL). */
function keyExpr(groupBy: UsageGroupBy, table: LedgerTable): RawBuilder<string> {
  if (groupBy === 'day') return sql.raw<string>(`substr(${TIME_COLUMN[table]}, 1, 10)`);
  return sql.raw<string>(KEY_COLUMN[groupBy]);
}

function filtered(b: AnySelect, table: LedgerTable, q: UsageQuery): AnySelect {
  const time = TIME_COLUMN[table];
  if (q.from !== undefined) b = b.where(time, '>=', q.from);
  if (q.to !== undefined) b = b.where(time, '<', q.to);
  if (q.sessionId !== undefined) b = b.where('session_id', '=', q.sessionId);
  if (q.agentId !== undefined) b = b.where('agent_id', '=', q.agentId);
  if (q.environmentId !== undefined) b = b.where('environment_id', '=', q.environmentId);
  if (q.tenant !== undefined) b = b.where('tenant_id', '=', q.tenant);
  return b;
}

type TokenRow = { k: string; model: string | null } & Record<(typeof COUNT_KEYS)[number], number | string>;

async function tokenSums(
  db: Kysely<Database>,
  key: RawBuilder<string>,
  where: (b: AnySelect) => AnySelect,
): Promise<TokenRow[]> {
  const q = db
    .selectFrom('model_requests')
    .select((eb) => [
      key.as('k'),
      'model',
      eb.fn.sum<number>('input_tokens').as('input_tokens'),
      eb.fn.sum<number>('output_tokens').as('output_tokens'),
      eb.fn.sum<number>('cache_read_input_tokens').as('cache_read_input_tokens'),
      eb.fn.sum<number>('cache_creation_input_tokens').as('cache_creation_input_tokens'),
      eb.fn.countAll<number>().as('requests'),
    ]) as AnySelect;
  return (await where(q).groupBy([key, 'model']).orderBy('model').execute()) as TokenRow[];
}

/** Adds one (group, model) row to a group's totals (PostgreSQL returns sums of integers as strings). */
function addTokens(total: UsageTotals, r: TokenRow): void {
  const m: ModelUsageTotals = { model: r.model, ...zeroTokens() };
  for (const k of COUNT_KEYS) {
    m[k] = Number(r[k]);
    total[k] += m[k];
  }
  total.by_model.push(m);
}

type SandboxRow = { k: string } & Record<(typeof SANDBOX_KEYS)[number], number | string>;

async function sandboxSums(
  db: Kysely<Database>,
  key: RawBuilder<string>,
  where: (b: AnySelect) => AnySelect,
): Promise<SandboxRow[]> {
  const q = db
    .selectFrom('sandbox_usage')
    .select((eb) => [
      key.as('k'),
      eb.fn.sum<number>('seconds').as('seconds'),
      eb.fn.sum<number>('active_seconds').as('active_seconds'),
      eb.fn.sum<number>('memory_gib_seconds').as('memory_gib_seconds'),
      eb.fn.sum<number>('vcpu_seconds').as('vcpu_seconds'),
      eb.fn.countAll<number>().as('intervals'),
    ]) as AnySelect;
  return (await where(q).groupBy(key).execute()) as SandboxRow[];
}

function sandboxOf(r: SandboxRow): SandboxTotals {
  const t = zeroSandbox();
  for (const k of SANDBOX_KEYS) t[k] = Number(r[k]);
  return t;
}

function isGroupCursor(v: unknown): v is { k: string } {
  return typeof v === 'object' && v !== null && typeof (v as { k?: unknown }).k === 'string';
}
