import type Anthropic from '@anthropic-ai/sdk';
import { InvalidArgumentError, type Command } from 'commander';

type Print = (l: string) => void;
type Row = Record<string, unknown>;
interface Page {
  data: Row[];
  next_page: string | null;
}

function monthly(cents: number): object {
  return { type: 'monthly', max_list_cost: { amount: String(cents), currency: 'USD' } };
}

/**
 * `berth admin …`: tenants, API keys and the audit log through `/v1/berth/admin/...` (admin keys only). A key's
 * secret is printed once, by `keys create` and `keys rotate`; nothing else ever shows it.
 */
export const adminCommands = {
  tenants: {
    async create(c: Anthropic, print: Print, name: string, o: { monthlyBudget?: number } = {}): Promise<void> {
      const budget = o.monthlyBudget === undefined ? undefined : monthly(o.monthlyBudget);
      const t = await c.post<Row>('/v1/berth/admin/tenants', { body: { name, budget } });
      print(`${str(t.id)}  ${str(t.name)}`);
    },
    /** Sets (cents) or removes (null) a tenant's monthly budget, and prints this month's spend against it. */
    async budget(c: Anthropic, print: Print, id: string, cents: number | null): Promise<void> {
      const body = { budget: cents === null ? null : monthly(cents) };
      const t = await c.post<Row>(`/v1/berth/admin/tenants/${encodeURIComponent(id)}`, { body });
      const spend = t.spend as { month: string; list_cost: { amount: string }; budget_reached: boolean };
      const cap = cents === null ? 'no budget' : `budget ${cents} cents`;
      const reached = spend.budget_reached ? ' (reached)' : '';
      print(`${str(t.id)}  ${cap}; spent ${spend.list_cost.amount} cents in ${spend.month}${reached}`);
    },
    async list(c: Anthropic, print: Print, o: { all: boolean; limit: number }): Promise<void> {
      const q = { limit: o.limit, ...(o.all ? { include_archived: 'true' } : {}) };
      const p = await c.get<Page>('/v1/berth/admin/tenants', { query: q });
      if (p.data.length === 0) print('no tenants');
      for (const t of p.data)
        print(`${str(t.id)}  ${str(t.created_at)}  ${t.archived_at ? 'archived ' : ''}${str(t.name)}`);
    },
    async get(c: Anthropic, print: Print, id: string): Promise<void> {
      print(JSON.stringify(await c.get(`/v1/berth/admin/tenants/${encodeURIComponent(id)}`), null, 2));
    },
    async archive(c: Anthropic, print: Print, id: string): Promise<void> {
      await c.post(`/v1/berth/admin/tenants/${encodeURIComponent(id)}/archive`);
      print(`archived ${id} (its keys no longer work)`);
    },
  },
  keys: {
    async create(
      c: Anthropic,
      print: Print,
      o: { scope: string; tenant?: string; name?: string; expiresAt?: string },
    ): Promise<void> {
      const body = { scope: o.scope, tenant_id: o.tenant, name: o.name, expires_at: o.expiresAt };
      printSecret(print, await c.post<Row>('/v1/berth/admin/keys', { body }));
    },
    async list(c: Anthropic, print: Print, o: { tenant?: string; all: boolean; limit: number }): Promise<void> {
      const q = {
        limit: o.limit,
        ...(o.tenant ? { tenant_id: o.tenant } : {}),
        ...(o.all ? { include_inactive: 'true' } : {}),
      };
      const p = await c.get<Page>('/v1/berth/admin/keys', { query: q });
      if (p.data.length === 0) print('no keys');
      for (const k of p.data) print(keyLine(k));
    },
    async get(c: Anthropic, print: Print, id: string): Promise<void> {
      print(JSON.stringify(await c.get(`/v1/berth/admin/keys/${encodeURIComponent(id)}`), null, 2));
    },
    async revoke(c: Anthropic, print: Print, id: string): Promise<void> {
      print(keyLine(await c.post<Row>(`/v1/berth/admin/keys/${encodeURIComponent(id)}/revoke`)));
    },
    async rotate(c: Anthropic, print: Print, id: string, o: { grace?: number }): Promise<void> {
      const body = o.grace === undefined ? {} : { grace_seconds: o.grace };
      const r = await c.post<Row>(`/v1/berth/admin/keys/${encodeURIComponent(id)}/rotate`, { body });
      printSecret(print, r);
      print(`previous: ${keyLine(r.previous as Row)}`);
    },
  },
  async audit(
    c: Anthropic,
    print: Print,
    o: { tenant?: string; since?: string; until?: string; limit: number; json: boolean },
  ): Promise<void> {
    const q: Record<string, string | number> = { limit: o.limit };
    if (o.tenant) q.tenant_id = o.tenant;
    if (o.since) q['created_at[gte]'] = o.since;
    if (o.until) q['created_at[lt]'] = o.until;
    const p = await c.get<Page>('/v1/berth/admin/audit', { query: q });
    for (const e of p.data) {
      if (o.json) print(JSON.stringify(e));
      else
        print(
          `${str(e.created_at)}  ${str(e.status)}  ${str(e.method).padEnd(6)} ${str(e.route)}  ${str(e.resource_id ?? '-')}  ` +
            `tenant=${str(e.tenant_id)} key=${str(e.key_prefix)} ${str(e.request_id)}`,
        );
    }
    if (p.next_page) print(`(more: narrow the time range or raise --limit)`);
  },
};

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function keyLine(k: Row): string {
  const where = k.tenant_id === null ? 'all tenants' : `tenant ${str(k.tenant_id)}`;
  return `${str(k.id)}  ${str(k.prefix)}…  ${str(k.scope)}  ${where}  ${str(k.status)}${k.name ? `  ${str(k.name)}` : ''}`;
}

function printSecret(print: Print, k: Row): void {
  print(keyLine(k));
  print(`secret (shown once, store it now): ${str(k.secret)}`);
}

/** Registers `berth admin tenants|keys|audit` on `program`; `clientCmd` adds the shared connection options. */
export function registerAdmin(
  program: Command,
  clientCmd: (c: Command) => Command,
  client: (o: object) => Anthropic,
  print: Print,
  positiveInt: (v: string) => number,
): void {
  const admin = program.command('admin').description('Tenants, API keys and the audit log (admin keys only).');
  const tenants = admin.command('tenants').description('Tenants: every resource belongs to one.');
  clientCmd(tenants.command('create').argument('<name>', 'display name').description('Create a tenant.'))
    .option('--monthly-budget <cents>', "cap on the tenant's model list cost per UTC month, in cents", nonNegativeInt)
    .action((name: string, o: { monthlyBudget?: number }) => adminCommands.tenants.create(client(o), print, name, o));
  clientCmd(
    tenants
      .command('budget')
      .argument('<id>', 'tenant id')
      .argument('<cents|none>', "monthly cap on the tenant's model list cost, in cents; `none` removes it")
      .description("Set or remove a tenant's monthly budget; prints this month's spend."),
  ).action((id: string, cents: string, o: object) =>
    adminCommands.tenants.budget(client(o), print, id, cents === 'none' ? null : nonNegativeInt(cents)),
  );
  clientCmd(tenants.command('list').description('List tenants, newest first.'))
    .option('--all', 'include archived tenants', false)
    .option('--limit <n>', 'how many', positiveInt, 100)
    .action((o: { all: boolean; limit: number }) => adminCommands.tenants.list(client(o), print, o));
  clientCmd(tenants.command('get').argument('<id>', 'tenant id').description('Show a tenant as JSON.')).action(
    (id: string, o: object) => adminCommands.tenants.get(client(o), print, id),
  );
  clientCmd(
    tenants.command('archive').argument('<id>', 'tenant id').description('Archive a tenant: its keys stop working.'),
  ).action((id: string, o: object) => adminCommands.tenants.archive(client(o), print, id));

  const keys = admin.command('keys').description('API keys: stored as hashes, shown by prefix.');
  clientCmd(keys.command('create').description('Create a key; its secret is printed once.'))
    .requiredOption('--scope <scope>', 'admin | write | read')
    .option('--tenant <id>', 'the tenant of a read or write key')
    .option('--name <name>', 'a label')
    .option('--expires-at <time>', 'RFC 3339 time the key stops working')
    .action((o: { scope: string; tenant?: string; name?: string; expiresAt?: string }) =>
      adminCommands.keys.create(client(o), print, o),
    );
  clientCmd(keys.command('list').description('List active keys, newest first.'))
    .option('--tenant <id>', 'only this tenant')
    .option('--all', 'include revoked and expired keys', false)
    .option('--limit <n>', 'how many', positiveInt, 100)
    .action((o: { tenant?: string; all: boolean; limit: number }) => adminCommands.keys.list(client(o), print, o));
  clientCmd(keys.command('get').argument('<id>', 'key id').description('Show a key (never its secret).')).action(
    (id: string, o: object) => adminCommands.keys.get(client(o), print, id),
  );
  clientCmd(keys.command('revoke').argument('<id>', 'key id').description('Revoke a key now.')).action(
    (id: string, o: object) => adminCommands.keys.revoke(client(o), print, id),
  );
  clientCmd(
    keys
      .command('rotate')
      .argument('<id>', 'key id')
      .description('Issue a replacement key; the old one is revoked now, or after --grace seconds.'),
  )
    .option('--grace <seconds>', 'how long the old key keeps working (max 604800)', (v) => Number(v))
    .action((id: string, o: { grace?: number }) => adminCommands.keys.rotate(client(o), print, id, o));

  clientCmd(admin.command('audit').description('Mutating API calls, newest first.'))
    .option('--tenant <id>', 'only calls that acted on this tenant')
    .option('--since <time>', 'from this RFC 3339 time')
    .option('--until <time>', 'before this RFC 3339 time')
    .option('--limit <n>', 'how many', positiveInt, 100)
    .option('--json', 'one JSON object per line', false)
    .action((o: { tenant?: string; since?: string; until?: string; limit: number; json: boolean }) =>
      adminCommands.audit(client(o), print, o),
    );
}

/** Parses a CLI integer ≥ 0 (cents), or fails with a message naming the expected form. */
function nonNegativeInt(v: string): number {
  if (!/^(0|[1-9]\d{0,14})$/.test(v)) throw new InvalidArgumentError('expected a whole number of cents, like 50000');
  return Number(v);
}
