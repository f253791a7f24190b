import type { Logger } from '../logger.js';

/** How often a disconnected runner's sandbox is looked at. */
export const RUNNER_WATCH_POLL_MS = 1000;
/**
 * How long a runner may stay away while its sandbox still runs. A live runner redials within about 2 s (its
 * backoff tops out there); one that has not after this long is dead or wedged inside a sandbox that lingers, as
 * happens when gVisor's memory limit kills part of a sandbox and its remaining host processes take a while to go.
 */
export const RUNNER_RECONNECT_DEADLINE_MS = 30_000;

export interface RunnerWatch {
  /** True once the runner is back (the watch ends quietly). */
  connected(): boolean;
  /** True once the runtime is being stopped on purpose (the watch ends quietly). */
  stopped(): boolean;
  /** The sandbox's state, as the driver sees it. */
  inspect(): Promise<{ status: string; logFile?: string | undefined } | undefined>;
  /** Called at most once: the session has lost its agent. */
  onLost(reason: string): void;
  log: Logger;
  pollMs?: number;
  deadlineMs?: number;
  /** Milliseconds now (injectable for tests). */
  now?: () => number;
}

/**
 * Watches a sandbox whose runner disconnected until one of three things happens:
 * - the runner reconnects, or the runtime is stopped: nothing to do;
 * - the sandbox is no longer running: the session lost its agent;
 * - the deadline passes with the sandbox still running (or its state unreadable): lost too, so the session ends
 *   with an error (and its sandbox is stopped) instead of hanging until its turn times out.
 * Returns a function that cancels the watch.
 */
export function watchRunnerReturn(w: RunnerWatch): () => void {
  const pollMs = w.pollMs ?? RUNNER_WATCH_POLL_MS;
  const deadlineMs = w.deadlineMs ?? RUNNER_RECONNECT_DEADLINE_MS;
  const now = w.now ?? Date.now;
  const since = now();
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const away = () => !cancelled && !w.stopped() && !w.connected();
  const tick = async () => {
    if (!away()) return;
    let reason: string | undefined;
    try {
      const info = await w.inspect();
      if (info?.status !== 'running') reason = `the sandbox exited (see ${info?.logFile ?? 'the runner log'})`;
    } catch (err) {
      w.log.warn({ err }, 'could not inspect the sandbox after its runner disconnected');
      if (now() - since >= deadlineMs) reason = 'its state could not be read';
    }
    if (reason === undefined && now() - since >= deadlineMs)
      reason = `its runner did not reconnect within ${Math.round(deadlineMs / 1000)} s although the sandbox kept running`;
    if (!away()) return;
    if (reason !== undefined) {
      cancelled = true;
      w.onLost(reason);
      return;
    }
    timer = setTimeout(() => void tick(), pollMs);
  };
  timer = setTimeout(() => void tick(), pollMs);
  return () => {
    cancelled = true;
    if (timer) clearTimeout(timer);
  };
}
