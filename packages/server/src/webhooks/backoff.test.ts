import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.js';

describe('webhook retry backoff', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };

  it('doubles per attempt up to the cap, within the jitter bounds [nominal/2, nominal]', () => {
    const nominal = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000];
    nominal.forEach((n, i) => {
      expect(backoffDelayMs(i + 1, policy, () => 0)).toBe(n / 2);
      expect(backoffDelayMs(i + 1, policy, () => 0.999999)).toBe(Math.round(n / 2 + 0.999999 * (n / 2)));
      for (let k = 0; k < 50; k++) {
        const d = backoffDelayMs(i + 1, policy);
        expect(d).toBeGreaterThanOrEqual(n / 2);
        expect(d).toBeLessThanOrEqual(n);
      }
    });
  });

  it('spreads retries of deliveries that failed together (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(5, policy)));
    expect(delays.size).toBeGreaterThan(25);
  });

  it('stays finite for absurd attempt numbers', () => {
    expect(backoffDelayMs(10_000, policy, () => 1)).toBe(60_000);
    expect(backoffDelayMs(0, policy, () => 0)).toBe(500);
  });
});
