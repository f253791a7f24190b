import type Anthropic from '@anthropic-ai/sdk';

type Print = (l: string) => void;

/** One group of `GET /v1/berth/usage`, the fields the table shows. */
export interface UsageGroupRow {
  key: string;
  model_requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  sandbox: { seconds: number; active_seconds: number; memory_gib_seconds: number; vcpu_seconds: number };
  cost_usd: { tokens: number; sandbox: number; total: number };
}
interface UsagePage {
  data: UsageGroupRow[];
  next_page: string | null;
}

export interface UsageOptions {
  by: string;
  from?: string;
  to?: string;
  session?: string;
  agent?: string;
  environment?: string;
  json: boolean;
}

const COLUMNS = ['requests', 'input', 'output', 'cache_read', 'cache_write', 'sandbox_s', 'active_s', 'GiB_s', 'USD'];

/** One table line: the group key, token counts, sandbox time and the total cost. */
export function formatUsage(g: UsageGroupRow, keyWidth: number): string {
  const cells = [
    g.model_requests,
    g.input_tokens,
    g.output_tokens,
    g.cache_read_input_tokens,
    g.cache_creation_input_tokens,
    g.sandbox.seconds.toFixed(1),
    g.sandbox.active_seconds.toFixed(1),
    g.sandbox.memory_gib_seconds.toFixed(3),
    g.cost_usd.total.toFixed(6),
  ].map((c, i) => String(c).padStart(COLUMNS[i]!.length));
  return `${g.key.padEnd(keyWidth)}  ${cells.join('  ')}`;
}

/** `berth usage`: the usage ledger grouped (Berth's `/v1/berth/usage`), every page. */
export async function usage(client: Anthropic, print: Print, o: UsageOptions): Promise<void> {
  const query: Record<string, string> = { group_by: o.by, limit: '1000' };
  if (o.from) query.from = o.from;
  if (o.to) query.to = o.to;
  if (o.session) query.session_id = o.session;
  if (o.agent) query.agent_id = o.agent;
  if (o.environment) query.environment_id = o.environment;
  const groups: UsageGroupRow[] = [];
  let page: string | null = null;
  do {
    const res: UsagePage = await client.get('/v1/berth/usage', { query: page ? { ...query, page } : query });
    for (const g of res.data) {
      if (o.json) print(JSON.stringify(g));
      else groups.push(g);
    }
    page = res.next_page;
  } while (page);
  if (o.json) return;
  if (groups.length === 0) {
    print('no usage in this range');
    return;
  }
  const width = Math.max(o.by.length, ...groups.map((g) => g.key.length));
  print(`${o.by.padEnd(width)}  ${COLUMNS.join('  ')}`);
  for (const g of groups) print(formatUsage(g, width));
  const total = groups.reduce((sum, g) => sum + g.cost_usd.total, 0);
  print(`total ${total.toFixed(6)} USD over ${groups.length} ${o.by === 'day' ? 'days' : `${o.by}s`}`);
}
