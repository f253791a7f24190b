import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { watchRunnerReturn, type RunnerWatch } from './runner-watch.js';

const log = pino({ level: 'silent' });

/** A watch over a scripted sandbox: `states` are what successive inspects answer (the last one repeats). */
function scripted(states: Array<string | Error>, over: Partial<RunnerWatch> = {}) {
  const lost: string[] = [];
  let inspects = 0;
  let connected = false;
  let stopped = false;
  const cancel = watchRunnerReturn({
    connected: () => connected,
    stopped: () => stopped,
    inspect: () => {
      const s = states[Math.min(inspects++, states.length - 1)]!;
      return s instanceof Error ? Promise.reject(s) : Promise.resolve({ status: s, logFile: '/x/runner.log' });
    },
    onLost: (r) => lost.push(r),
    log,
    pollMs: 1000,
    deadlineMs: 30_000,
    now: () => Date.now(),
    ...over,
  });
  return {
    lost,
    inspects: () => inspects,
    reconnect: () => (connected = true),
    stop: () => (stopped = true),
    cancel,
  };
}

describe('watchRunnerReturn', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports the loss once the sandbox stops running, however long its teardown takes', async () => {
    // The case that hung a session: the first look still sees the sandbox's processes.
    const w = scripted(['running', 'running', 'running', 'exited']);
    await vi.advanceTimersByTimeAsync(3000);
    expect(w.lost).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.lost).toEqual(['the sandbox exited (see /x/runner.log)']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.lost).toHaveLength(1);
    expect(w.inspects()).toBe(4);
  });

  it('gives up on a runner that never comes back although its sandbox keeps running', async () => {
    const w = scripted(['running']);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(w.lost).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.lost).toEqual(['its runner did not reconnect within 30 s although the sandbox kept running']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(w.lost).toHaveLength(1);
  });

  it('ends quietly when the runner reconnects', async () => {
    const w = scripted(['running']);
    await vi.advanceTimersByTimeAsync(2000);
    w.reconnect();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.lost).toEqual([]);
    expect(w.inspects()).toBe(2);
  });

  it('ends quietly when the runtime is stopped or the watch cancelled', async () => {
    const a = scripted(['exited']);
    a.stop();
    const b = scripted(['exited']);
    b.cancel();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.lost).toEqual([]);
    expect(b.lost).toEqual([]);
    expect(a.inspects() + b.inspects()).toBe(0);
  });

  it('does not report a runner that came back while the sandbox was being inspected', async () => {
    const back = { reconnect: () => {} };
    const w = scripted(['exited'], {
      inspect: () => {
        back.reconnect();
        return Promise.resolve({ status: 'exited' });
      },
    });
    back.reconnect = w.reconnect;
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.lost).toEqual([]);
  });

  it('keeps trying while the state cannot be read, and reports it at the deadline', async () => {
    const w = scripted([new Error('EIO'), new Error('EIO'), 'running']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.lost).toEqual([]);
    const x = scripted([new Error('EIO')]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(x.lost).toEqual(['its state could not be read']);
  });
});
