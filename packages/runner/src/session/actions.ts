import type { RunnerEvent } from '@berth/protocol';

/** The client's answer to a tool call that waited for it. */
export type ActionAnswer =
  | { kind: 'confirm'; result: 'allow' | 'deny'; message: string | null }
  | { kind: 'custom'; content: Array<{ type: 'text'; text: string }>; isError: boolean }
  /** The turn ended (interrupt, stop, crash) before the client answered. */
  | { kind: 'cancelled'; reason: string };

type Kind = 'confirm' | 'custom';

interface Entry {
  kind: Kind;
  /** The event id of the tool use, once the mapper has mapped it. */
  eventId?: string;
  answer?: ActionAnswer;
  /** Set while the CLI waits for this call (the permission hook or the custom tool's handler runs). */
  resolve?: (a: ActionAnswer) => void;
}

/** What the gate needs from the session. */
export interface ActionGateDeps {
  /** Whether a model request is still streaming: the idle waits for it, so every tool use of it is listed. */
  spanOpen: () => boolean;
  /** `session.status_idle{requires_action}` for these event ids. */
  requiresAction: (eventIds: string[]) => RunnerEvent;
  /** `session.status_running`: every pending action is resolved. */
  resumed: () => RunnerEvent;
}

/**
 * Tool calls that wait for the client: ask-gated calls (`user.tool_confirmation`) and custom tools
 * (`user.custom_tool_result`). The CLI asks for a call (permission hook, custom tool handler) and waits; once the
 * model request has ended and a call waits, the session goes idle with `requires_action` listing every call of the
 * turn still unanswered. An answer that leaves others pending re-emits the idle with the rest; the last one emits
 * `status_running` and releases the waiting calls together. Keyed by the model's toolu id, because the CLI can ask
 * before the SDK has handed the runner the message that made the call.
 */
export class ActionGate {
  private readonly entries = new Map<string, Entry>();
  /** The ids of the last `requires_action` idle; null when the turn is not waiting. */
  private announced: string[] | null = null;

  constructor(private readonly deps: ActionGateDeps) {}

  /** The mapper mapped a call that needs the client. */
  expect(tooluId: string, eventId: string, kind: Kind): void {
    const e = this.entries.get(tooluId);
    if (e) e.eventId = eventId;
    else this.entries.set(tooluId, { kind, eventId });
  }

  /** The CLI waits for the answer to `tooluId` (resolves at once if it is already known). */
  wait(tooluId: string, kind: Kind, signal?: AbortSignal): Promise<ActionAnswer> {
    let e = this.entries.get(tooluId);
    if (!e) {
      e = { kind };
      this.entries.set(tooluId, e);
    }
    const entry = e;
    if (entry.answer && this.announced === null) return Promise.resolve(entry.answer);
    return new Promise((resolve) => {
      entry.resolve = resolve;
      signal?.addEventListener(
        'abort',
        () => this.settle(entry, { kind: 'cancelled', reason: 'the call was aborted' }),
        {
          once: true,
        },
      );
    });
  }

  /** The event id of the custom tool call the CLI runs when it did not say which one (oldest unclaimed first). */
  unclaimedCustom(): string | undefined {
    for (const [toolu, e] of this.entries) if (e.kind === 'custom' && !e.resolve && !e.answer) return toolu;
    return undefined;
  }

  /** Event ids the client may answer now, with their kind. */
  pending(): Array<{ eventId: string; kind: Kind }> {
    return [...this.entries.values()].flatMap((e) =>
      e.eventId && !e.answer ? [{ eventId: e.eventId, kind: e.kind }] : [],
    );
  }

  /** The client answered. Returns the events to emit, or null when nothing waits for `eventId`. */
  answer(eventId: string, answer: Exclude<ActionAnswer, { kind: 'cancelled' }>): RunnerEvent[] | null {
    const entry = [...this.entries.values()].find((e) => e.eventId === eventId && !e.answer);
    if (!entry || entry.kind !== answer.kind) return null;
    entry.answer = answer;
    if (this.announced === null) {
      // Answered before the turn went idle for it: the call goes ahead as soon as the CLI asks.
      if (entry.resolve) this.settle(entry, answer);
      return [];
    }
    const rest = this.pending().map((p) => p.eventId);
    if (rest.length > 0) {
      this.announced = rest;
      return [this.deps.requiresAction(rest)];
    }
    this.announced = null;
    const events = [this.deps.resumed()];
    for (const e of this.entries.values()) if (e.resolve && e.answer) this.settle(e, e.answer);
    return events;
  }

  /**
   * Emits the `requires_action` idle when it is due: no model request streams, a call waits, and every waiting
   * call has been mapped (so its event id is known).
   */
  check(): RunnerEvent[] {
    if (this.announced !== null || this.deps.spanOpen()) return [];
    const waiting = [...this.entries.values()].filter((e) => e.resolve && !e.answer);
    if (waiting.length === 0 || waiting.some((e) => !e.eventId)) return [];
    const ids = this.pending().map((p) => p.eventId);
    this.announced = ids;
    return [this.deps.requiresAction(ids)];
  }

  /** The turn ended or is ending: every waiting call gets `cancelled` and the gate forgets the turn. */
  reset(reason: string): void {
    for (const e of this.entries.values()) this.settle(e, { kind: 'cancelled', reason });
    this.entries.clear();
    this.announced = null;
  }

  /** Whether the turn is parked on `requires_action`. */
  get waiting(): boolean {
    return this.announced !== null;
  }

  private settle(entry: Entry, answer: ActionAnswer): void {
    const resolve = entry.resolve;
    entry.resolve = undefined;
    resolve?.(answer);
  }
}
