import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { compileSchedule, isTimezone } from './cron.js';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  }
  return 'ok';
};

describe('schedules (croner)', () => {
  it('reads the expression in its timezone, across a DST change', () => {
    const s = compileSchedule('0 9 * * 1-5', 'Europe/Paris');
    // Friday 27 March 2026 (CET, UTC+1), then Monday 30 March (CEST, UTC+2).
    expect(s.nextAfter(new Date('2026-03-27T07:00:00Z'))?.toISOString()).toBe('2026-03-27T08:00:00.000Z');
    expect(s.nextAfter(new Date('2026-03-27T08:00:00Z'))?.toISOString()).toBe('2026-03-30T07:00:00.000Z');
    const ny = compileSchedule('30 6 * * *', 'America/New_York');
    expect(ny.nextAfter(new Date('2026-07-01T00:00:00Z'))?.toISOString()).toBe('2026-07-01T10:30:00.000Z');
  });

  it('takes seconds as an optional sixth field and nicknames; the next run is strictly after', () => {
    const every = compileSchedule('* * * * * *', 'UTC');
    expect(every.nextAfter(new Date('2026-01-01T00:00:00.000Z'))?.toISOString()).toBe('2026-01-01T00:00:01.000Z');
    expect(compileSchedule('@daily', 'UTC').nextAfter(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-01-02T00:00:00.000Z',
    );
  });

  it('refuses bad expressions, dates, never-matching expressions and unknown timezones with invalid_schedule', () => {
    expect(code(() => compileSchedule('61 * * * *', 'UTC'))).toMatch(/^invalid_schedule: schedule.cron '61/);
    expect(code(() => compileSchedule('every day', 'UTC'))).toMatch(/^invalid_schedule: .*Use 5 fields/);
    expect(code(() => compileSchedule('* * * * * * *', 'UTC'))).toMatch(/^invalid_schedule/);
    expect(code(() => compileSchedule('2026-01-01T00:00:00', 'UTC'))).toMatch(/is a date, not a cron expression/);
    expect(code(() => compileSchedule('0 0 30 2 *', 'UTC'))).toMatch(/never matches/);
    expect(code(() => compileSchedule('0 9 * * *', 'Mars/Olympus'))).toMatch(/not an IANA timezone/);
    expect(isTimezone('UTC')).toBe(true);
    expect(isTimezone('Asia/Kolkata')).toBe(true);
    expect(isTimezone('+02:00x')).toBe(false);
  });
});
