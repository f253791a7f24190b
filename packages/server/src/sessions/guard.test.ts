import { describe, expect, it } from 'vitest';
import type { LifecyclePolicy } from '../lifecycle.js';
import { SessionGuard, type Timers } from './guard.js';

/** Timers driven by hand: `advance(ms)` fires what is due, in order. */
function fakeTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const id = next++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => pending.delete(h as number),
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...pending].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = end;
  };
  return { timers, advance, now: () => now, pending: () => pending.size };
}

const policy = (p: Partial<LifecyclePolicy>): LifecyclePolicy => ({
  pattern: 'persistent',
  idle_timeout_s: null,
  max_lifetime_s: null,
  turn_timeout_s: null,
  hibernate_after_s: null,
  grace_s: 0,
  keep: [],
  ...p,
});

function setup() {
  const f = fakeTimers();
  const fired: string[] = [];
  const guard = new SessionGuard(
    {
      turnTimedOut: (id, s) => fired.push(`turn:${id}:${s}`),
      lifetimeReached: (id, s) => fired.push(`lifetime:${id}:${s}`),
      idleTimedOut: (id, s) => fired.push(`idle:${id}:${s}`),
      hibernateDue: (id) => fired.push(`hibernate:${id}`),
      taskDone: (id) => fired.push(`done:${id}`),
    },
    f.timers,
    f.now,
  );
  return { f, fired, guard };
}

describe('SessionGuard', () => {
  it('interrupts a turn only past its wall-clock limit, counted from its start', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ turn_timeout_s: 10 }), 0);
    f.advance(5_000);
    guard.turnStarted('s');
    f.advance(9_000);
    guard.turnStarted('s'); // running again within the same turn: the clock is not restarted
    expect(fired).toEqual([]);
    f.advance(1_000);
    expect(fired).toEqual(['turn:s:10']);
  });

  it('a turn that ends in time fires nothing; the next turn gets a fresh clock', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ turn_timeout_s: 10 }), 0);
    guard.turnStarted('s');
    f.advance(9_000);
    guard.turnEnded('s');
    guard.turnStarted('s');
    f.advance(9_000);
    expect(fired).toEqual([]);
  });

  it('the idle clock runs only while no turn runs', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ idle_timeout_s: 3 }), 0);
    f.advance(2_000);
    guard.turnStarted('s');
    f.advance(60_000);
    expect(fired).toEqual([]);
    guard.turnEnded('s');
    f.advance(2_999);
    expect(fired).toEqual([]);
    f.advance(1);
    expect(fired).toEqual(['idle:s:3']);
  });

  it('the lifetime counts from creation, and limits past the longest Node delay are re-armed', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ max_lifetime_s: 31_536_000 }), -1_000);
    f.advance(31_536_000_000 - 1_001);
    expect(fired).toEqual([]);
    f.advance(1);
    expect(fired).toEqual(['lifetime:s:31536000']);
  });

  it('forget and forgetAll clear every timer', () => {
    const { f, fired, guard } = setup();
    const all = policy({ idle_timeout_s: 1, max_lifetime_s: 2, turn_timeout_s: 3 });
    guard.watch('a', all, 0);
    guard.watch('b', all, 0);
    guard.turnStarted('b');
    expect(guard.armedTimers()).toBe(4);
    guard.forget('a');
    expect(guard.armedTimers()).toBe(2);
    guard.forgetAll();
    expect(guard.armedTimers()).toBe(0);
    expect(f.pending()).toBe(0);
    f.advance(10_000);
    expect(fired).toEqual([]);
  });

  it('hibernates a hybrid session after hibernate_after_s idle, and a new turn restarts that clock', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ pattern: 'hybrid', hibernate_after_s: 60 }), 0);
    f.advance(30_000);
    guard.turnStarted('s');
    f.advance(100_000);
    expect(fired).toEqual([]);
    guard.turnEnded('s');
    f.advance(59_000);
    expect(fired).toEqual([]);
    f.advance(1_000);
    expect(fired).toEqual(['hibernate:s']);
    guard.forget('s');
    expect(guard.armedTimers()).toBe(0);
  });

  it('ends an ephemeral session grace_s after its first turn ends, not while it waits for its task', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ pattern: 'ephemeral', grace_s: 5 }), 0);
    f.advance(600_000);
    expect(fired).toEqual([]);
    guard.turnStarted('s');
    guard.turnEnded('s');
    f.advance(4_000);
    guard.turnStarted('s'); // a follow-up within the grace keeps the sandbox
    guard.turnEnded('s');
    f.advance(4_999);
    expect(fired).toEqual([]);
    f.advance(1);
    expect(fired).toEqual(['done:s']);
  });

  it('a queued message stops the idle-side clocks and marks the session busy until its turn ends', () => {
    const { f, fired, guard } = setup();
    guard.watch('s', policy({ pattern: 'hybrid', hibernate_after_s: 10, idle_timeout_s: 20 }), 0);
    f.advance(5_000);
    guard.messageQueued('s');
    expect(guard.messageWaiting('s')).toBe(true);
    f.advance(60_000); // the sandbox takes long to start: neither clock fires
    expect(fired).toEqual([]);
    guard.turnStarted('s');
    guard.turnEnded('s');
    expect(guard.messageWaiting('s')).toBe(false);
    f.advance(10_000);
    expect(fired).toEqual(['hibernate:s']);
  });
});
