import type Anthropic from '@anthropic-ai/sdk';
import { formatEvent } from './format.js';
import { followTurn } from './follow.js';

type Print = (l: string) => void;

/** `berth sessions …`: thin wrappers over the official SDK. */
export const sessionCommands = {
  async list(client: Anthropic, print: Print, o: { limit: number; status?: string }): Promise<void> {
    const page = await client.beta.sessions.list({
      limit: o.limit,
      ...(o.status ? { statuses: [o.status as 'idle' | 'running' | 'rescheduling' | 'terminated'] } : {}),
    });
    if (page.data.length === 0) print('no sessions');
    for (const s of page.data) {
      print(`${s.id}  ${s.status.padEnd(10)} ${s.created_at}  ${s.title ?? ''}`);
    }
  },

  async show(client: Anthropic, print: Print, id: string): Promise<void> {
    print(JSON.stringify(await client.beta.sessions.retrieve(id), null, 2));
  },

  async events(client: Anthropic, print: Print, id: string, o: { json: boolean }): Promise<void> {
    for await (const e of client.beta.sessions.events.list(id, { limit: 1000 })) {
      const ev = e as unknown as { type: string; [k: string]: unknown };
      if (o.json) print(JSON.stringify(ev));
      else {
        const line = formatEvent(ev);
        if (line !== null) print(line);
      }
    }
  },

  async send(client: Anthropic, print: Print, id: string, text: string, o: { follow: boolean }): Promise<number> {
    const send = () =>
      client.beta.sessions.events.send(id, { events: [{ type: 'user.message', content: [{ type: 'text', text }] }] });
    if (!o.follow) {
      await send();
      print('sent');
      return 0;
    }
    const outcome = await followTurn(client, id, send, print);
    return outcome.stopReason === 'end_turn' && outcome.errors.length === 0 ? 0 : 1;
  },

  async interrupt(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.beta.sessions.events.send(id, { events: [{ type: 'user.interrupt' }] });
    print('interrupt sent');
  },

  /** `berth sessions egress <id>`: the session's egress audit (Berth's `/v1/berth/sessions/{id}/egress`). */
  async egress(client: Anthropic, print: Print, id: string, o: { json: boolean; denied: boolean }): Promise<void> {
    let page: string | null = null;
    let any = false;
    do {
      const query: Record<string, string> = { limit: '1000', ...(o.denied ? { decision: 'denied' } : {}) };
      if (page) query.page = page;
      const res: EgressPage = await client.get(`/v1/berth/sessions/${encodeURIComponent(id)}/egress`, { query });
      for (const r of res.data) {
        any = true;
        print(o.json ? JSON.stringify(r) : formatEgress(r));
      }
      page = res.next_page;
    } while (page);
    if (!any && !o.json) print(o.denied ? 'no denied egress' : 'no egress');
  },

  async delete(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.beta.sessions.delete(id);
    print(`deleted ${id}`);
  },
};

interface EgressRow {
  created_at: string;
  method: string;
  host: string;
  port: number;
  decision: 'allowed' | 'denied';
  rule: string;
  reason: string | null;
  status: number | null;
  bytes_up: number;
  bytes_down: number;
}
interface EgressPage {
  data: EgressRow[];
  next_page: string | null;
}

/** One audit line: time, verdict, target, status, bytes, and the rule (and reason when refused or failed). */
export function formatEgress(r: EgressRow): string {
  const target = r.host.includes(':') ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`;
  const verdict = r.decision === 'allowed' ? 'ALLOW' : 'DENY ';
  const bytes = `${r.bytes_up}B up ${r.bytes_down}B down`;
  return `${r.created_at}  ${verdict} ${r.method.padEnd(7)} ${target}  ${r.status ?? '-'}  ${bytes}  ${r.rule}${r.reason ? ` — ${r.reason}` : ''}`;
}
