import { Cron } from 'croner';
import { ApiError } from '../errors.js';

/** A validated schedule: a cron expression read in an IANA timezone. */
export interface Schedule {
  /** The first time strictly after `after` that the schedule matches; null when it never matches again. */
  nextAfter(after: Date): Date | null;
}

/** True when `tz` is an IANA timezone name this Node.js knows (aliases such as `UTC` included). */
export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles a cron expression (5 fields, or 6 with seconds first; `@daily`-style nicknames; croner syntax) in a
 * timezone. Throws `invalid_schedule` (400) with what to fix, for a bad expression, an unknown timezone, or an
 * expression that never matches (e.g. February 30th).
 */
export function compileSchedule(expression: string, timezone: string): Schedule {
  if (!isTimezone(timezone)) {
    throw new ApiError(
      'invalid_schedule',
      `schedule.timezone '${timezone.slice(0, 64)}' is not an IANA timezone. Use a name such as 'UTC', 'Europe/Paris' or 'America/New_York'.`,
    );
  }
  let cron: Cron;
  try {
    // paused: croner only evaluates the pattern here; berthd's scheduler owns the one timer (triggers/scheduler.ts).
    cron = new Cron(expression, { timezone, paused: true, mode: '5-or-6-parts' });
  } catch (err) {
    throw new ApiError(
      'invalid_schedule',
      `schedule.cron '${expression.slice(0, 100)}' is not a valid cron expression (${(err as Error).message}). ` +
        "Use 5 fields 'minute hour day-of-month month day-of-week' (e.g. '0 9 * * 1-5'), 6 with seconds first, or @hourly/@daily/@weekly.",
    );
  }
  // croner also takes an ISO date as a one-off "pattern"; a trigger schedule must be a recurring cron expression.
  if (cron.getPattern() === undefined) {
    throw new ApiError(
      'invalid_schedule',
      `schedule.cron '${expression.slice(0, 100)}' is a date, not a cron expression. Use e.g. '0 9 * * 1-5'.`,
    );
  }
  const schedule: Schedule = { nextAfter: (after) => cron.nextRun(after) };
  if (schedule.nextAfter(new Date()) === null) {
    throw new ApiError(
      'invalid_schedule',
      `schedule.cron '${expression.slice(0, 100)}' never matches a date (e.g. day 30 of February). Fix the day and month fields.`,
    );
  }
  return schedule;
}
