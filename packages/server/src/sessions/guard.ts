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
}

/** Node's timers fire at once for delays above 2^31-1 ms; longer ones are armed in steps. */
const MAX_DELAY_MS = 2_147_483_647;

interface Watched {
  policy: LifecyclePolicy;
  lifetime?: unknown;
  turn?: unknown;
  idle?: unknown;
}

/**
 * Enforces a live session's `berth.lifecycle` limits with one timer per limit: the maximum lifetime (from the
 * session's creation), the wall-clock limit of the running turn, and the idle timeout (no turn running). Every timer
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
    const limit = w.policy.turn_timeout_s;
    if (limit === null || w.turn !== undefined) return;
    w.turn = this.arm(sessionId, this.now() + limit * 1000, 'turn', () => this.actions.turnTimedOut(sessionId, limit));
  }

  /** The turn ended (status idle): the turn clock stops and the idle clock starts. */
  turnEnded(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    this.clear(w, 'turn');
    const limit = w.policy.idle_timeout_s;
    if (limit === null || w.idle !== undefined) return;
    w.idle = this.arm(sessionId, this.now() + limit * 1000, 'idle', () => this.actions.idleTimedOut(sessionId, limit));
  }

  /** Clears every timer of a session. */
  forget(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    this.watched.delete(sessionId);
    for (const k of ['lifetime', 'turn', 'idle'] as const) this.clear(w, k);
  }

  /** Clears every timer (berthd closing). */
  forgetAll(): void {
    for (const id of [...this.watched.keys()]) this.forget(id);
  }

  /** How many timers are armed (tests check that none leak). */
  armedTimers(): number {
    let n = 0;
    for (const w of this.watched.values()) n += [w.lifetime, w.turn, w.idle].filter((h) => h !== undefined).length;
    return n;
  }

  private clear(w: Watched, key: 'lifetime' | 'turn' | 'idle'): void {
    if (w[key] === undefined) return;
    this.timers.clearTimeout(w[key]);
    w[key] = undefined;
  }

  /** Arms a timer for the absolute time `dueMs`, re-arming in steps past Node's longest delay. */
  private arm(sessionId: string, dueMs: number, key: 'lifetime' | 'turn' | 'idle', fire: () => void): unknown {
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
