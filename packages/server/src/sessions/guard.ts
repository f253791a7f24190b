import type { LifecyclePolicy } from '../lifecycle.js';

/** The timer functions the guard uses; injected so tests can drive time and so nothing outlives `close`. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What the guard does when a limit is reached (the session service). Each gets the limit in seconds. */
export interface GuardActions {
  turnTimedOut(sessionId: string, limitS: number): void;
  lifetimeReached(sessionId: string, limitS: number): void;
  idleTimedOut(sessionId: string, limitS: number): void;
  /** hybrid: idle for `hibernate_after_s`; the sandbox hibernates. */
  hibernateDue(sessionId: string): void;
  /** ephemeral: a turn ended and its grace passed with no new turn; the session ends. */
  taskDone(sessionId: string): void;
}

type Key = 'lifetime' | 'turn' | 'idle' | 'hibernate' | 'grace';
const KEYS: readonly Key[] = ['lifetime', 'turn', 'idle', 'hibernate', 'grace'];

/** Node's timers fire at once for delays above 2^31-1 ms; longer ones are armed in steps. */
const MAX_DELAY_MS = 2_147_483_647;

interface Watched {
  policy: LifecyclePolicy;
  lifetime?: unknown;
  turn?: unknown;
  idle?: unknown;
  hibernate?: unknown;
  grace?: unknown;
  /** A turn has run (an ephemeral session ends only after its task). */
  worked?: boolean;
  /** A message was accepted and its turn has not ended. */
  waiting?: boolean;
}

/**
 * Enforces a live session's `berth.lifecycle` with one timer per limit: the maximum lifetime (from the session's
 * creation), the wall-clock limit of the running turn, the idle timeout (no turn running), and the pattern's own
 * clock: hybrid's hibernation after `hibernate_after_s` idle, ephemeral's end `grace_s` after its turn. Every timer
 * is cleared by `forget` (stop, delete, archive) and `forgetAll` (berthd closing).
 */
export class SessionGuard {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly actions: GuardActions,
    private readonly timers: Timers = systemTimers,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts guarding a session whose sandbox is starting; it begins idle. */
  watch(sessionId: string, policy: LifecyclePolicy, createdAtMs: number): void {
    this.forget(sessionId);
    const w: Watched = { policy };
    this.watched.set(sessionId, w);
    if (policy.max_lifetime_s !== null) {
      const limit = policy.max_lifetime_s;
      w.lifetime = this.arm(sessionId, createdAtMs + limit * 1000, 'lifetime', () =>
        this.actions.lifetimeReached(sessionId, limit),
      );
    }
    this.turnEnded(sessionId);
  }

  /** A turn began (status running): the idle clock stops and the turn clock starts, once per turn. */
  turnStarted(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    this.clear(w, 'idle');
    this.clear(w, 'hibernate');
    this.clear(w, 'grace');
    w.worked = true;
    const limit = w.policy.turn_timeout_s;
    if (limit === null || w.turn !== undefined) return;
    w.turn = this.arm(sessionId, this.now() + limit * 1000, 'turn', () => this.actions.turnTimedOut(sessionId, limit));
  }

  /**
   * A message was accepted for the session: it is not idle any more, even before its turn starts (a sandbox still
   * starting or resuming takes seconds), so the idle-side clocks stop. The turn's own clock starts with the turn.
   */
  messageQueued(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    w.waiting = true;
    for (const k of ['idle', 'hibernate', 'grace'] as const) this.clear(w, k);
  }

  /** A message was accepted and the turn it starts has not ended yet (a hibernation must not stop its agent). */
  messageWaiting(sessionId: string): boolean {
    return this.watched.get(sessionId)?.waiting === true;
  }

  /** The turn ended (status idle): the turn clock stops and the idle clock starts. */
  turnEnded(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    this.clear(w, 'turn');
    w.waiting = false;
    const after = w.policy.hibernate_after_s;
    if (w.policy.pattern === 'hybrid' && after !== null && w.hibernate === undefined)
      w.hibernate = this.arm(sessionId, this.now() + after * 1000, 'hibernate', () =>
        this.actions.hibernateDue(sessionId),
      );
    if (w.policy.pattern === 'ephemeral' && w.worked && w.grace === undefined) {
      const grace = w.policy.grace_s;
      w.grace = this.arm(sessionId, this.now() + grace * 1000, 'grace', () => this.actions.taskDone(sessionId));
    }
    const limit = w.policy.idle_timeout_s;
    if (limit === null || w.idle !== undefined) return;
    w.idle = this.arm(sessionId, this.now() + limit * 1000, 'idle', () => this.actions.idleTimedOut(sessionId, limit));
  }

  /** The session hibernated: only its lifetime and idle clocks keep running. */
  hibernated(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (w) this.clear(w, 'hibernate');
  }

  /** True while the session is guarded (a hibernated one stays guarded: its lifetime and idle clocks run on). */
  watching(sessionId: string): boolean {
    return this.watched.has(sessionId);
  }

  /** Clears every timer of a session. */
  forget(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    this.watched.delete(sessionId);
    for (const k of KEYS) this.clear(w, k);
  }

  /** Clears every timer (berthd closing). */
  forgetAll(): void {
    for (const id of [...this.watched.keys()]) this.forget(id);
  }

  /** How many timers are armed (tests check that none leak). */
  armedTimers(): number {
    let n = 0;
    for (const w of this.watched.values()) n += KEYS.filter((k) => w[k] !== undefined).length;
    return n;
  }

  private clear(w: Watched, key: Key): void {
    if (w[key] === undefined) return;
    this.timers.clearTimeout(w[key]);
    w[key] = undefined;
  }

  /** Arms a timer for the absolute time `dueMs`, re-arming in steps past Node's longest delay. */
  private arm(sessionId: string, dueMs: number, key: Key, fire: () => void): unknown {
    const delay = Math.max(0, dueMs - this.now());
    return this.timers.setTimeout(
      () => {
        const w = this.watched.get(sessionId);
        if (!w) return;
        if (this.now() < dueMs) {
          w[key] = this.arm(sessionId, dueMs, key, fire);
          return;
        }
        w[key] = undefined;
        fire();
      },
      Math.min(delay, MAX_DELAY_MS),
    );
  }
}
