import { describe, expect, it } from 'vitest';
import { monthOf } from './tenant-budget.js';

describe('monthOf', () => {
  it('is the UTC calendar month around an instant, across year ends and leap days', () => {
    expect(monthOf(new Date('2026-11-29T16:00:00Z'))).toEqual({
      month: '2026-11',
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
    });
    expect(monthOf(new Date('2026-12-31T23:59:59.999Z'))).toMatchObject({
      month: '2026-12',
      to: '2027-01-01T00:00:00.000Z',
    });
    expect(monthOf(new Date('2028-02-29T12:00:00Z'))).toMatchObject({
      from: '2028-02-01T00:00:00.000Z',
      to: '2028-03-01T00:00:00.000Z',
    });
    // Local offsets do not matter: 00:30 on the 1st in UTC+2 is still the previous month in UTC.
    expect(monthOf(new Date('2026-12-01T00:30:00+02:00')).month).toBe('2026-11');
  });
});
