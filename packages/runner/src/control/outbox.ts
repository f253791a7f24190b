import type { RunnerEvent } from '@berth/protocol';
import { encodeFrame } from '@berth/protocol/wire';

/**
 * Per-session numbering and retention of emitted events until berthd acks them (the delivery rule of
 * `@berth/protocol` control.ts). Everything here is in memory: a runner restart loses unacked events, but a
 * runner restart also ends its sessions' CLI processes, so berthd has to recover those sessions anyway.
 */

/** How much the outbox may hold unacked before {@link Outbox.waitForRoom} makes emitters wait. */
export interface OutboxLimits {
  maxEvents: number;
  maxBytes: number;
}

/**
 * 10 000 events or 64 MiB across all sessions. The bound is soft: it pauses the sessions' SDK streams
 * (and through pipe back-pressure, the CLIs), while the few events emitted from frame handlers
 * (`status_running`, interrupt idles) may overshoot it slightly. Nothing is ever dropped.
 */
export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = { maxEvents: 10_000, maxBytes: 64 * 1024 * 1024 };

/** One numbered, encoded event frame waiting for its ack. */
export interface OutboxEntry {
  sessionId: string;
  seq: number;
  /** The encoded frame line, newline included. */
  line: string;
  bytes: number;
}

interface Stream {
  lastSeq: number;
  unacked: OutboxEntry[];
  open: boolean;
}

/** Numbers events per session, keeps them until acked and lists them for re-sending after `welcome`. */
export class Outbox {
  private readonly streams = new Map<string, Stream>();
  /** Last seq of streams already forgotten, so a session id that is started again never reuses a seq. */
  private readonly closedLastSeq = new Map<string, number>();
  private totalEvents = 0;
  private totalBytes = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly maxFrameBytes: number,
    private readonly limits: OutboxLimits = DEFAULT_OUTBOX_LIMITS,
  ) {}

  /** Marks a session as hosted (listed in hello). Idempotent. */
  open(sessionId: string): void {
    const s = this.streams.get(sessionId);
    if (s) s.open = true;
    else this.streams.set(sessionId, { lastSeq: this.closedLastSeq.get(sessionId) ?? 0, unacked: [], open: true });
    this.closedLastSeq.delete(sessionId);
  }

  /** The session is no longer hosted; its stream is forgotten once every event is acked. */
  close(sessionId: string): void {
    const s = this.streams.get(sessionId);
    if (!s) return;
    s.open = false;
    this.forgetIfDone(sessionId, s);
  }

  /**
   * Numbers and stores an event. Throws `FrameTooLargeError` if the frame cannot be sent at all. An event for a
   * session that is not open is still numbered and delivered, but does not make the session hosted again.
   */
  push(sessionId: string, event: RunnerEvent): OutboxEntry {
    let s = this.streams.get(sessionId);
    if (!s) {
      s = { lastSeq: this.closedLastSeq.get(sessionId) ?? 0, unacked: [], open: false };
      this.streams.set(sessionId, s);
      this.closedLastSeq.delete(sessionId);
    }
    const seq = s.lastSeq + 1;
    const line = encodeFrame({ type: 'event', session_id: sessionId, seq, event }, this.maxFrameBytes);
    s.lastSeq = seq;
    const entry: OutboxEntry = { sessionId, seq, line, bytes: Buffer.byteLength(line) };
    s.unacked.push(entry);
    this.totalEvents += 1;
    this.totalBytes += entry.bytes;
    return entry;
  }

  /** berthd persisted everything up to `seq` of this session (acks are cumulative: berthd persists in order). */
  ack(sessionId: string, seq: number): void {
    const s = this.streams.get(sessionId);
    if (!s) {
      // berthd has events of this session from an earlier sandbox (a hibernated session resumed here): a stream
      // opened later continues after them, or berthd would take its first events for re-sends and drop them.
      if (seq > (this.closedLastSeq.get(sessionId) ?? 0)) this.closedLastSeq.set(sessionId, seq);
      return;
    }
    let n = 0;
    while (n < s.unacked.length && s.unacked[n]!.seq <= seq) n++;
    if (n > 0) {
      for (const e of s.unacked.splice(0, n)) {
        this.totalEvents -= 1;
        this.totalBytes -= e.bytes;
      }
      this.wake();
    }
    this.forgetIfDone(sessionId, s);
  }

  /**
   * Applies berthd's `welcome`: drops what it acked, then returns every remaining unacked entry, in seq order
   * per session. A session berthd does not mention keeps all its unacked events (berthd dedupes by event id).
   */
  applyWelcome(acked: ReadonlyArray<{ session_id: string; acked_seq: number }>): OutboxEntry[] {
    for (const a of acked) this.ack(a.session_id, a.acked_seq);
    const out: OutboxEntry[] = [];
    for (const s of this.streams.values()) out.push(...s.unacked);
    return out;
  }

  /** The hosted sessions and their last seq, for `hello`. */
  hostedSessions(): Array<{ session_id: string; last_seq: number }> {
    const out: Array<{ session_id: string; last_seq: number }> = [];
    for (const [id, s] of this.streams) if (s.open) out.push({ session_id: id, last_seq: s.lastSeq });
    return out;
  }

  /** The last seq given out for a session (0 if none). */
  lastSeq(sessionId: string): number {
    return this.streams.get(sessionId)?.lastSeq ?? this.closedLastSeq.get(sessionId) ?? 0;
  }

  /** Number of unacked events of one session (all sessions when omitted). */
  unackedCount(sessionId?: string): number {
    if (sessionId === undefined) return this.totalEvents;
    return this.streams.get(sessionId)?.unacked.length ?? 0;
  }

  hasRoom(): boolean {
    return this.totalEvents < this.limits.maxEvents && this.totalBytes < this.limits.maxBytes;
  }

  /** Resolves when the outbox is below its limits (at once if it already is). */
  waitForRoom(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    if (!this.hasRoom() || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private forgetIfDone(sessionId: string, s: Stream): void {
    if (s.open || s.unacked.length > 0) return;
    this.streams.delete(sessionId);
    this.closedLastSeq.set(sessionId, s.lastSeq);
  }
}
