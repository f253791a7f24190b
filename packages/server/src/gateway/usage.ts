/**
 * Reads usage out of a Messages API reply as it streams past, without buffering the stream: SSE replies report
 * input/cache counts in `message_start` and the final counts in `message_delta`; JSON replies carry `usage`.
 */
export interface ObservedUsage {
  messageId: string | null;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

const COUNTS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

export function emptyUsage(): ObservedUsage {
  return {
    messageId: null,
    model: null,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
  };
}

/** Later reports override earlier ones field by field (message_delta carries cumulative counts). */
function merge(into: ObservedUsage, usage: unknown): void {
  if (typeof usage !== 'object' || usage === null) return;
  const u = usage as Record<string, unknown>;
  for (const k of COUNTS) {
    const v = u[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) into[k] = Math.floor(v);
  }
}

function absorbMessage(into: ObservedUsage, msg: unknown): void {
  if (typeof msg !== 'object' || msg === null) return;
  const m = msg as Record<string, unknown>;
  if (typeof m.id === 'string') into.messageId = m.id.slice(0, 128);
  if (typeof m.model === 'string') into.model = m.model.slice(0, 128);
  merge(into, m.usage);
}

/** Incremental SSE parser that only looks at `data:` lines of message_start / message_delta events. */
export class SseUsageTap {
  readonly usage = emptyUsage();
  private buf = '';

  push(chunk: Buffer): void {
    this.buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl).trimEnd();
      this.buf = this.buf.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      this.onData(line.slice(5).trim());
    }
    // A single line should never be this long for the events we read; drop it rather than grow without bound.
    if (this.buf.length > 1_000_000) this.buf = '';
  }

  private onData(data: string): void {
    if (!data.includes('"message_start"') && !data.includes('"message_delta"')) return;
    try {
      const ev = JSON.parse(data) as { type?: string; message?: unknown; usage?: unknown };
      if (ev.type === 'message_start') absorbMessage(this.usage, ev.message);
      else if (ev.type === 'message_delta') merge(this.usage, ev.usage);
    } catch {
      // Not JSON: nothing to count.
    }
  }
}

/** Usage of a complete JSON (non-streaming) reply. */
export function usageFromJson(body: string): ObservedUsage {
  const u = emptyUsage();
  try {
    absorbMessage(u, JSON.parse(body));
  } catch {
    // Not JSON: nothing to count.
  }
  return u;
}
