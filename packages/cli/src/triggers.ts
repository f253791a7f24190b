import { InvalidArgumentError, type Command } from 'commander';
import type Anthropic from '@anthropic-ai/sdk';
import { clientOptions, makeClient } from './client.js';

type Print = (l: string) => void;
type Conn = { url?: string; apiKey?: string; dataDir?: string };

interface Trigger {
  id: string;
  kind: 'schedule' | 'webhook';
  session_id: string;
  name: string | null;
  enabled: boolean;
  schedule: { cron: string; timezone: string } | null;
  webhook: { url: string; secret?: string } | null;
  next_run_at: string | null;
}
interface Run {
  id: string;
  source: string;
  fired_at: string;
  outcome: string;
  reason: string | null;
  event_id: string | null;
}
type Page<T> = { data: T[]; next_page: string | null };

const BASE = '/v1/berth/triggers';

function triggerId(v: string): string {
  if (!/^trg_[0-9A-Za-z]+$/.test(v)) throw new InvalidArgumentError("expected a trigger id like 'trg_…'");
  return v;
}

function line(t: Trigger): string {
  const what = t.schedule ? `cron '${t.schedule.cron}' ${t.schedule.timezone}` : `webhook ${t.webhook?.url ?? ''}`;
  const state = t.enabled ? `next ${t.next_run_at ?? '-'}` : 'paused';
  return `${t.id}  ${t.kind.padEnd(8)} ${t.session_id}  ${state}  ${what}${t.name ? `  (${t.name})` : ''}`;
}

/** `berth triggers …`: Berth's `/v1/berth/triggers` routes through the official SDK's raw request methods. */
export const triggerCommands = {
  async list(client: Anthropic, print: Print, o: { session?: string; limit: number; json: boolean }): Promise<void> {
    const query: Record<string, string> = { limit: String(o.limit), ...(o.session ? { session_id: o.session } : {}) };
    const page: Page<Trigger> = await client.get(BASE, { query });
    if (page.data.length === 0 && !o.json) print('no triggers');
    for (const t of page.data) print(o.json ? JSON.stringify(t) : line(t));
  },

  async create(
    client: Anthropic,
    print: Print,
    o: {
      session: string;
      prompt: string;
      cron?: string;
      timezone: string;
      webhook: boolean;
      name?: string;
      paused: boolean;
    },
  ): Promise<void> {
    if (Boolean(o.cron) === o.webhook) throw new Error('Pass exactly one of --cron <expression> or --webhook.');
    const body = {
      kind: o.webhook ? 'webhook' : 'schedule',
      session_id: o.session,
      prompt: o.prompt,
      enabled: !o.paused,
      ...(o.name ? { name: o.name } : {}),
      ...(o.cron ? { schedule: { cron: o.cron, timezone: o.timezone } } : {}),
    };
    const t: Trigger = await client.post(BASE, { body });
    print(line(t));
    if (t.webhook?.secret) {
      print(`url     ${t.webhook.url}`);
      print(`secret  ${t.webhook.secret}`);
      print('The secret is shown only now: store it where the sender can use it (rotate_secret issues a new one).');
    }
  },

  async setEnabled(client: Anthropic, print: Print, id: string, enabled: boolean): Promise<void> {
    const t: Trigger = await client.post(`${BASE}/${id}`, { body: { enabled } });
    print(line(t));
  },

  async runs(client: Anthropic, print: Print, id: string, o: { limit: number; json: boolean }): Promise<void> {
    const page: Page<Run> = await client.get(`${BASE}/${id}/runs`, { query: { limit: String(o.limit) } });
    if (page.data.length === 0 && !o.json) print('no runs');
    for (const r of page.data) {
      print(
        o.json
          ? JSON.stringify(r)
          : `${r.fired_at}  ${r.source.padEnd(8)} ${r.outcome.padEnd(7)} ${r.event_id ?? ''}${r.reason ? `  ${r.reason}` : ''}`,
      );
    }
  },

  async delete(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.delete(`${BASE}/${id}`);
    print(`deleted ${id}`);
  },
};

/** Adds `berth triggers list|create|delete|pause|resume|runs` to the program. */
export function addTriggerCommands(
  program: Command,
  clientCmd: (c: Command) => Command,
  print: Print,
  parse: { positiveInt: (v: string) => number; sessionId: (v: string) => string },
): void {
  const triggers = program
    .command('triggers')
    .description('Schedules and webhooks that post a user.message into a session (proactive agents).');
  const client = (o: Conn) => makeClient(clientOptions(o));
  clientCmd(triggers.command('list').description('List triggers, newest first.'))
    .option('--session <id>', "only this session's triggers", parse.sessionId)
    .option('--limit <n>', 'how many', parse.positiveInt, 20)
    .option('--json', 'one JSON trigger per line', false)
    .action(async (o: Conn & { session?: string; limit: number; json: boolean }) =>
      triggerCommands.list(client(o), print, o),
    );
  clientCmd(
    triggers
      .command('create')
      .description('Create a schedule (--cron) or webhook (--webhook) trigger for an existing session.'),
  )
    .requiredOption('--session <id>', 'the session it posts into', parse.sessionId)
    .requiredOption('--prompt <text>', 'the message (schedule) or the instructions before the payload (webhook)')
    .option('--cron <expression>', "cron expression, e.g. '0 9 * * 1-5' (6 fields: seconds first)")
    .option('--timezone <tz>', 'IANA timezone of the cron expression', 'UTC')
    .option('--webhook', 'a webhook trigger (prints its URL and its secret, once)', false)
    .option('--name <name>', 'a name to recognise it by')
    .option('--paused', 'create it paused', false)
    .action(
      async (
        o: Conn & {
          session: string;
          prompt: string;
          cron?: string;
          timezone: string;
          webhook: boolean;
          name?: string;
          paused: boolean;
        },
      ) => triggerCommands.create(client(o), print, o),
    );
  for (const [name, enabled] of [
    ['pause', false],
    ['resume', true],
  ] as const) {
    clientCmd(
      triggers
        .command(name)
        .argument('<id>', 'trigger id', triggerId)
        .description(enabled ? 'Resume a paused trigger.' : 'Pause a trigger.'),
    ).action(async (id: string, o: Conn) => triggerCommands.setEnabled(client(o), print, id, enabled));
  }
  clientCmd(triggers.command('runs').argument('<id>', 'trigger id', triggerId).description("A trigger's run log."))
    .option('--limit <n>', 'how many', parse.positiveInt, 20)
    .option('--json', 'one JSON run per line', false)
    .action(async (id: string, o: Conn & { limit: number; json: boolean }) =>
      triggerCommands.runs(client(o), print, id, o),
    );
  clientCmd(
    triggers.command('delete').argument('<id>', 'trigger id', triggerId).description('Delete a trigger.'),
  ).action(async (id: string, o: Conn) => triggerCommands.delete(client(o), print, id));
}
