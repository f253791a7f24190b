import type { Logger } from '../logger.js';
import type { EventLog, WireEvent } from '../sessions/event-log.js';

/** Event types after which the stream is closed by the server (§1: delete must close; terminated may). */
const CLOSING = new Set(['session.deleted', 'session.status_terminated']);

/**
 * Bytes queued for a client that does not read before its stream is cut (as the WebSocket channel does): it then
 * resumes as every SSE client does, by opening the stream again and listing the history, deduping by event id.
 */
export const SSE_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** One SSE stream as the hub sees it (api/sse.ts adapts an HTTP response to it). */
export interface SseSink {
  /** Queues bytes for the client, in order. */
  write(chunk: Buffer): void;
  /** Bytes written and not yet handed to the kernel (what a client that does not read makes grow). */
  buffered(): number;
  /** Ends the stream: `closed` after a closing event (every frame sent), `slow` cuts a client that does not read. */
  end(why: 'closed' | 'slow'): void;
  /** Holds writes back until `uncork`, which sends all that was held in one write. */
  cork(): void;
  uncork(): void;
}

/**
 * The `event: <type>\ndata: <json>\n\n` frames of events, as one buffer (event name = type, as both SDKs need).
 */
export function encodeFrames(events: readonly WireEvent[]): Buffer {
  let text = '';
  for (const e of events) text += `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
  return Buffer.from(text, 'utf8');
}

/**
 * Fans a session's live events out to its SSE streams. The hub holds one event-log subscription per session with
 * streams, encodes each published batch (an append's events) once, and hands the same buffer to every stream in one
 * write, synchronously in the publish: no per-subscriber serialisation, copy or wait for a later loop phase. A
 * stream whose client does not read is cut once SSE_MAX_BUFFERED_BYTES wait for it, so it neither grows berthd's
 * memory without bound nor delays the others (writes never block; only memory is at stake).
 *
 * Only the first batch of a turn of the event loop leaves at once. When appends queue up (more arrive than berthd
 * keeps up with), the later batches of that turn are held (corked) and leave together, one write per stream, in the
 * check phase: one write per batch would spend the most CPU exactly when it is short.
 */
export class SseHub {
  private readonly sessions = new Map<string, { sinks: Set<SseSink>; unsubscribe: () => void }>();
  /** Sessions that sent a batch in this turn of the loop, with the streams corked since. */
  private readonly turns = new Map<string, Set<SseSink>>();

  constructor(
    private readonly log: EventLog,
    private readonly logger: Logger,
    private readonly maxBufferedBytes = SSE_MAX_BUFFERED_BYTES,
  ) {}

  /** Sends the session's events published from now on to `sink`; returns the detach function. */
  attach(sessionId: string, sink: SseSink): () => void {
    let s = this.sessions.get(sessionId);
    if (!s) {
      const sinks = new Set<SseSink>();
      s = { sinks, unsubscribe: this.log.subscribe(sessionId, (events) => this.fanOut(sessionId, sinks, events)) };
      this.sessions.set(sessionId, s);
    }
    s.sinks.add(sink);
    return () => this.detach(sessionId, sink);
  }

  /** Streams currently attached to the session. */
  count(sessionId: string): number {
    return this.sessions.get(sessionId)?.sinks.size ?? 0;
  }

  private detach(sessionId: string, sink: SseSink): void {
    const s = this.sessions.get(sessionId);
    if (!s?.sinks.delete(sink) || s.sinks.size > 0) return;
    s.unsubscribe();
    this.sessions.delete(sessionId);
  }

  private fanOut(sessionId: string, sinks: Set<SseSink>, events: readonly WireEvent[]): void {
    // Nothing after a closing event reaches a stream: it ends with that frame.
    const cut = events.findIndex((e) => CLOSING.has(e.type));
    const frames = encodeFrames(cut < 0 ? events : events.slice(0, cut + 1));
    const corked = this.turns.get(sessionId);
    if (!corked) {
      this.turns.set(sessionId, new Set());
      setImmediate(() => this.endTurn(sessionId));
    }
    for (const sink of sinks) {
      if (corked && !corked.has(sink)) {
        corked.add(sink);
        sink.cork();
      }
      sink.write(frames);
      if (cut >= 0) {
        this.detach(sessionId, sink);
        sink.end('closed');
      } else if (sink.buffered() > this.maxBufferedBytes) {
        this.logger.warn({ sessionId, bufferedBytes: sink.buffered() }, 'SSE client is not reading; stream cut');
        this.detach(sessionId, sink);
        sink.end('slow');
      }
    }
  }

  private endTurn(sessionId: string): void {
    const corked = this.turns.get(sessionId);
    this.turns.delete(sessionId);
    for (const sink of corked ?? []) sink.uncork();
  }
}
