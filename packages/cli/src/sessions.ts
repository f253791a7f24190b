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

  async delete(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.beta.sessions.delete(id);
    print(`deleted ${id}`);
  },
};
