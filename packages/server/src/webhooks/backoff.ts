/** Retry timing of webhook deliveries. */
export interface BackoffPolicy {
  /** Delay before the second attempt (ms); each later one doubles it. */
  baseMs: number;
  /** Longest delay between two attempts (ms). */
  maxMs: number;
}

/**
 * The delay after failed attempt number `attempt` (1-based): exponential (`baseMs · 2^(attempt-1)`, capped at
 * `maxMs`) with "equal jitter": a uniformly random point in the upper half of it. The jitter spreads the retries of
 * many deliveries that failed together (a receiver outage) so they do not return in one burst; keeping the lower
 * half means a retry never comes sooner than half the nominal delay.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempt, 1) - 1, 40);
  const nominal = Math.min(policy.maxMs, policy.baseMs * 2 ** exp);
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
