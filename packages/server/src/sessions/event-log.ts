import type { LifecycleType } from '../webhooks/events.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../api/common.js';
import type { EventRecord, JsonObject, NewEvent, SessionRecord, Store } from '../store/store.js';

/** A served event: the JSON a client sees (has `id`, `type`, `processed_at`). */
export type WireEvent = JsonObject & { id: string; type: string };

/** An event to append: like WireEvent, without `processed_at` (the log stamps it). */
export type EventInput = JsonObject & { id: string; type: string };

/**
 * Told of the events of one append (or one published event) together, in seq order: a subscriber that writes to a
 * socket can send them in one write.
 */
export type Listener = (events: readonly WireEvent[]) => void;

/**
 * A process-wide observer of every session (webhooks): told of each event once it is persisted, and of the lifecycle
 * changes that are not events (created, archived, deleted). Called synchronously; it must not block or throw.
 */
export interface EventTap {
  event(sessionId: string, event: WireEvent): void;
  lifecycle(type: LifecycleType, session: SessionRecord): void;
}

/**
 * The only way events enter a session's history. Every event is persisted before anyone sees it (rule 3), and
 * appends of one session are serialised, so subscribers receive events in seq order, exactly once each.
 */
export class EventLog {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly taps = new Set<EventTap>();
  /** JSON text of published events, shared by every subscriber of one event (weak: gone with the event). */
  private readonly texts = new WeakMap<WireEvent, string>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Persists events (stamping `processed_at`), then publishes them. With `runnerSeq`, a re-sent runner frame that
   * is already stored yields [] and publishes nothing.
   */
  append(sessionId: string, events: EventInput[], runnerSeq?: number): Promise<EventRecord[]> {
    return this.serialised(sessionId, async () => {
      const now = this.clock();
      const rows: NewEvent[] = events.map((e) => ({
        id: e.id,
        type: e.type,
        processed_at: now,
        body: { ...e, processed_at: now },
      }));
      const stored = await this.store.appendEvents(sessionId, rows, runnerSeq);
      const bodies = stored.map((r) => r.body as WireEvent);
      if (bodies.length > 0) this.deliver(sessionId, bodies);
      for (const e of bodies) this.tapped((t) => t.event(sessionId, e));
      return stored;
    });
  }

  /** Runs `fn` after every earlier append of the session has finished. */
  serialised<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(sessionId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(sessionId, tail);
    void tail.then(() => {
      if (this.chains.get(sessionId) === tail) this.chains.delete(sessionId);
    });
    return next;
  }

  /** Delivers an event to live subscribers only (used for `session.deleted`, which outlives the history). */
  publish(sessionId: string, event: WireEvent): void {
    this.deliver(sessionId, [event]);
  }

  /** The session's whole history, oldest first (re-adoption rebuilds what waits for the client from it). */
  async history(sessionId: string): Promise<WireEvent[]> {
    const out: WireEvent[] = [];
    let page: string | undefined;
    do {
      const p = await this.store.listEvents(sessionId, { limit: 500, order: 'asc', page });
      out.push(...p.data.map((r) => r.body as WireEvent));
      page = p.next ?? undefined;
    } while (page);
    return out;
  }

  /**
   * The event's JSON text, serialised once however many subscribers send it (100 WebSocket channels of one session
   * would otherwise stringify the same event 100 times).
   */
  json(event: WireEvent): string {
    let text = this.texts.get(event);
    if (text === undefined) this.texts.set(event, (text = JSON.stringify(event)));
    return text;
  }

  /** Subscribes to events appended from now on; returns the unsubscribe function. */
  subscribe(sessionId: string, listener: Listener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(sessionId) === set) this.listeners.delete(sessionId);
    };
  }

  /** Adds a process-wide tap (see EventTap). */
  addTap(tap: EventTap): void {
    this.taps.add(tap);
  }

  /** Tells the taps about a lifecycle change that is not a session event. */
  announce(type: Parameters<EventTap['lifecycle']>[0], session: SessionRecord): void {
    this.tapped((t) => t.lifecycle(type, session));
  }

  private deliver(sessionId: string, events: readonly WireEvent[]): void {
    for (const l of this.listeners.get(sessionId) ?? []) {
      try {
        l(events);
      } catch (err) {
        this.logger.warn({ err, sessionId }, 'event listener failed');
      }
    }
  }

  private tapped(fn: (tap: EventTap) => void): void {
    for (const t of this.taps) {
      try {
        fn(t);
      } catch (err) {
        this.logger.warn({ err }, 'event tap failed');
      }
    }
  }
}
