import type { ContentBlock, Message } from './message.js';

/** Deltas are cut into chunks this long so clients exercise their reassembly, as with the real API. */
const CHUNK = 24;

/** One server-sent event: its name and JSON payload. */
export interface SseEvent {
  event: string;
  data: unknown;
}

function chunks(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += CHUNK) out.push(s.slice(i, i + CHUNK));
  return out;
}

/** The block as `content_block_start` announces it (empty, filled by the deltas) and the deltas that fill it. */
function blockEvents(block: ContentBlock): { start: unknown; deltas: unknown[] } {
  switch (block.type) {
    case 'text':
      return {
        start: { type: 'text', text: '' },
        deltas: chunks(block.text).map((text) => ({ type: 'text_delta', text })),
      };
    case 'tool_use':
      return {
        start: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        deltas: chunks(JSON.stringify(block.input)).map((partial_json) => ({ type: 'input_json_delta', partial_json })),
      };
    case 'thinking':
      return {
        start: { type: 'thinking', thinking: '', signature: '' },
        deltas: [
          ...chunks(block.thinking).map((thinking) => ({ type: 'thinking_delta', thinking })),
          { type: 'signature_delta', signature: block.signature },
        ],
      };
  }
}

/**
 * The events streaming `message` in the Messages API order. message_start carries the exact input and cache
 * counts (output 0, as the API does before generating); message_delta carries all four final counts, so a
 * consumer reading either event gets the scripted numbers.
 */
export function messageEvents(message: Message): SseEvent[] {
  const { usage } = message;
  const events: SseEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 0 },
        },
      },
    },
    { event: 'ping', data: { type: 'ping' } },
  ];
  message.content.forEach((block, index) => {
    const { start, deltas } = blockEvents(block);
    events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: start } });
    for (const delta of deltas) {
      events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push(
    {
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: message.stop_reason, stop_sequence: null },
        usage: { ...usage },
      },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  );
  return events;
}

/** Frames events as `event: <name>\ndata: <json>\n\n`. */
export function encodeSse(events: SseEvent[]): string {
  return events.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('');
}
