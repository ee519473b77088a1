import { describe, expect, it } from 'vitest';
import { nextScheduleAt } from '../../../lib/local/event-sources/scheduler.js';

describe('schedule expressions, as EventBridge Scheduler reads them (UTC)', () => {
  it('finds the next daily cron time strictly after an instant', () => {
    expect(nextScheduleAt('cron(0 3 * * ? *)', new Date('2026-03-02T02:59:59.999Z')).toISOString()).toBe(
      '2026-03-02T03:00:00.000Z',
    );
    expect(nextScheduleAt('cron(0 3 * * ? *)', new Date('2026-03-02T03:00:00.000Z')).toISOString()).toBe(
      '2026-03-03T03:00:00.000Z',
    );
    expect(nextScheduleAt('cron(30 6 * * ? *)', new Date('2026-03-02T20:00:00.000Z')).toISOString()).toBe(
      '2026-03-03T06:30:00.000Z',
    );
  });

  it('reads lists, ranges, steps, day names and months', () => {
    expect(nextScheduleAt('cron(0/15 * * * ? *)', new Date('2026-03-02T10:07:00Z')).toISOString()).toBe(
      '2026-03-02T10:15:00.000Z',
    );
    expect(nextScheduleAt('cron(0 9 ? * MON-FRI *)', new Date('2026-03-06T10:00:00Z')).toISOString()).toBe(
      '2026-03-09T09:00:00.000Z', // Friday 10:00 → Monday 09:00
    );
    expect(nextScheduleAt('cron(0 0 1 JAN,JUL ? *)', new Date('2026-03-02T00:00:00Z')).toISOString()).toBe(
      '2026-07-01T00:00:00.000Z',
    );
  });

  it('adds a rate to the instant', () => {
    expect(nextScheduleAt('rate(6 hours)', new Date('2026-03-02T00:00:00Z')).toISOString()).toBe(
      '2026-03-02T06:00:00.000Z',
    );
    expect(() => nextScheduleAt('at(2026-03-02T00:00:00)', new Date())).toThrow(/not supported/);
  });
});
