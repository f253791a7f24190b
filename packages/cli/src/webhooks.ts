import type Anthropic from '@anthropic-ai/sdk';
import type { Command } from 'commander';

type Print = (l: string) => void;

interface Endpoint {
  id: string;
  url: string;
  enabled: boolean;
  event_types: string[] | null;
  description: string | null;
  created_at: string;
  secret?: string;
}
interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
}
interface PageOf<T> {
  data: T[];
  next_page: string | null;
}

/** `berth webhooks …`: Berth's webhook endpoints and their delivery logs (`/v1/berth/webhooks`). */
export const webhookCommands = {
  async list(client: Anthropic, print: Print, o: { json: boolean }): Promise<void> {
    let page: string | null = null;
    let any = false;
    do {
      const query: Record<string, string> = { limit: '1000', ...(page ? { page } : {}) };
      const res: PageOf<Endpoint> = await client.get('/v1/berth/webhooks', { query });
      for (const w of res.data) {
        any = true;
        print(o.json ? JSON.stringify(w) : formatEndpoint(w));
      }
      page = res.next_page;
    } while (page);
    if (!any && !o.json) print('no webhooks');
  },

  async create(
    client: Anthropic,
    print: Print,
    target: string,
    o: { event?: string[]; description?: string; disabled: boolean },
  ): Promise<void> {
    const body = {
      url: target,
      ...(o.event?.length ? { event_types: o.event } : {}),
      ...(o.description ? { description: o.description } : {}),
      ...(o.disabled ? { enabled: false } : {}),
    };
    const w: Endpoint = await client.post('/v1/berth/webhooks', { body });
    print(formatEndpoint(w));
    print(`signing secret (shown once; store it now): ${w.secret ?? '?'}`);
  },

  async delete(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.delete(`/v1/berth/webhooks/${encodeURIComponent(id)}`);
    print(`deleted ${id}`);
  },

  async deliveries(
    client: Anthropic,
    print: Print,
    id: string,
    o: { json: boolean; status?: string; limit: number },
  ): Promise<void> {
    const query: Record<string, string> = { limit: String(o.limit), ...(o.status ? { status: o.status } : {}) };
    const res: PageOf<Delivery> = await client.get(`/v1/berth/webhooks/${encodeURIComponent(id)}/deliveries`, {
      query,
    });
    for (const d of res.data) print(o.json ? JSON.stringify(d) : formatDelivery(d));
    if (res.data.length === 0 && !o.json) print('no deliveries');
  },

  async redeliver(client: Anthropic, print: Print, id: string, deliveryId: string): Promise<void> {
    const path = `/v1/berth/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`;
    const d: Delivery = await client.post(path);
    print(`redelivering ${d.id} (${d.event_type})`);
  },
};

function formatEndpoint(w: Endpoint): string {
  const types = w.event_types ? w.event_types.join(',') : 'all events';
  return `${w.id}  ${w.enabled ? 'enabled ' : 'disabled'}  ${w.url}  (${types})${w.description ? `  ${w.description}` : ''}`;
}

/** One log line: time, event, status, attempts, last response and the next attempt when one is due. */
export function formatDelivery(d: Delivery): string {
  const last = d.last_status !== null ? `HTTP ${d.last_status}` : (d.last_error ?? '-');
  const next = d.next_attempt_at ? `  next ${d.next_attempt_at}` : '';
  const err = d.last_error && d.last_status !== null ? `  ${d.last_error}` : '';
  return `${d.created_at}  ${d.id}  ${d.event_type.padEnd(26)} ${d.status.padEnd(9)} ${d.attempts} att  ${last}${err}${next}`;
}

type ClientCmd = (cmd: Command) => Command;
type Conn = { url?: string; apiKey?: string; dataDir?: string };

/** Registers `berth webhooks list|create|delete|deliveries|redeliver`. */
export function addWebhookCommands(
  program: Command,
  clientCmd: ClientCmd,
  connect: (o: Conn) => Anthropic,
  print: Print,
  positiveInt: (v: string) => number,
): void {
  const wh = program.command('webhooks').description('Webhook endpoints and their delivery logs.');
  clientCmd(wh.command('list').description('List webhook endpoints, newest first.'))
    .option('--json', 'one JSON endpoint per line', false)
    .action(async (o: Conn & { json: boolean }) => webhookCommands.list(connect(o), print, o));
  clientCmd(
    wh
      .command('create')
      .argument('<target>', 'the http(s) URL deliveries are POSTed to')
      .description('Create an endpoint; prints its signing secret once.'),
  )
    .option('--event <type...>', 'deliver only these event types (default: all)')
    .option('--description <text>', 'a note for operators')
    .option('--disabled', 'create it disabled', false)
    .action(async (target: string, o: Conn & { event?: string[]; description?: string; disabled: boolean }) =>
      webhookCommands.create(connect(o), print, target, o),
    );
  clientCmd(wh.command('delete').argument('<id>', 'webhook id').description('Delete an endpoint and its log.')).action(
    async (id: string, o: Conn) => webhookCommands.delete(connect(o), print, id),
  );
  clientCmd(
    wh
      .command('deliveries')
      .argument('<id>', 'webhook id')
      .description("Print an endpoint's delivery log, newest first."),
  )
    .option('--status <status>', 'only pending, delivered or failed deliveries')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--json', 'one JSON delivery per line', false)
    .action(async (id: string, o: Conn & { json: boolean; status?: string; limit: number }) =>
      webhookCommands.deliveries(connect(o), print, id, o),
    );
  clientCmd(
    wh
      .command('redeliver')
      .argument('<id>', 'webhook id')
      .argument('<delivery>', 'delivery id (whmsg_…)')
      .description('Send a delivery again, with a fresh set of attempts.'),
  ).action(async (id: string, delivery: string, o: Conn) => webhookCommands.redeliver(connect(o), print, id, delivery));
}
