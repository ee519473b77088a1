import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  inSendWindow,
  localTime,
  nextSendWindow,
  zonedInstant,
  zoneFor,
} from '../../../lambdas/domain/nurture/send-window.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';

const window = { days: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 };
const ZONES = [
  'UTC',
  'America/New_York',
  'America/Los_Angeles',
  'Europe/Berlin',
  'Asia/Kolkata',
  'Australia/Sydney',
  'Pacific/Chatham',
];

describe('send window', () => {
  it('reads wall-clock time in a zone, across daylight saving', () => {
    expect(localTime(new Date('2026-03-08T06:59:00Z'), 'America/New_York')).toMatchObject({
      hour: 1,
      minute: 59,
      weekday: 7,
    });
    expect(localTime(new Date('2026-03-08T07:00:00Z'), 'America/New_York')).toMatchObject({
      hour: 3,
      minute: 0,
      weekday: 7,
    });
    expect(zonedInstant('America/New_York', 2026, 3, 9, 9).toISOString()).toBe('2026-03-09T13:00:00.000Z');
    expect(zonedInstant('America/New_York', 2026, 3, 6, 9).toISOString()).toBe('2026-03-06T14:00:00.000Z');
  });

  it('defers a Friday-evening touch to Monday morning in the lead’s zone', () => {
    const fridayEvening = new Date('2026-03-06T23:30:00Z'); // 18:30 in New York
    expect(inSendWindow(fridayEvening, 'America/New_York', window)).toBe(false);
    expect(nextSendWindow(fridayEvening, 'America/New_York', window).toISOString()).toBe('2026-03-09T13:00:00.000Z');
    expect(nextSendWindow(new Date('2026-03-09T15:00:00Z'), 'America/New_York', window).toISOString()).toBe(
      '2026-03-09T15:00:00.000Z',
    );
  });

  it('falls back to the default zone for a missing or unknown zone', () => {
    expect(zoneFor(undefined, DEFAULT_NURTURE_PLAN.policy)).toBe('America/New_York');
    expect(zoneFor('Not/AZone', DEFAULT_NURTURE_PLAN.policy)).toBe('America/New_York');
    expect(zoneFor('Europe/Berlin', DEFAULT_NURTURE_PLAN.policy)).toBe('Europe/Berlin');
  });

  it('skips a day whose opening hour does not exist (spring forward) to the next opening', () => {
    // Sunday 2025-03-09 02:00 does not exist in New York (clocks jump to 03:00): the next window is Monday's.
    const w = { days: [7, 1], startHour: 2, endHour: 3 };
    const next = nextSendWindow(new Date('2025-03-03T08:00:00Z'), 'America/New_York', w);
    expect(next.toISOString()).toBe('2025-03-10T06:00:00.000Z');
    expect(inSendWindow(next, 'America/New_York', w)).toBe(true);
  });

  it('finds the hour right after a fall-back overlap (02:00 on the day Los Angeles leaves daylight saving)', () => {
    // Sunday 2027-11-07: 01:00–01:59 happens twice, then 02:00 PST (10:00Z). Asked on the Sunday before, after its
    // window, the next opening is that 02:00, not 01:00 PST (09:00Z), outside the window.
    expect(zonedInstant('America/Los_Angeles', 2027, 11, 7, 2).toISOString()).toBe('2027-11-07T10:00:00.000Z');
    expect(zonedInstant('America/Los_Angeles', 2027, 11, 7, 1).toISOString()).toBe('2027-11-07T08:00:00.000Z');
    const w = { days: [7], startHour: 2, endHour: 3 };
    expect(nextSendWindow(new Date('2027-10-31T10:10:00Z'), 'America/Los_Angeles', w).toISOString()).toBe(
      '2027-11-07T10:00:00.000Z',
    );
  });

  it('always answers an instant inside the window, not before now, and the window’s opening when it had to wait', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2025-01-01T00:00:00Z'), max: new Date('2027-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom(...ZONES),
        fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 0, max: 22 }),
        fc.integer({ min: 1, max: 12 }),
        (at, zone, days, startHour, length) => {
          const w = { days, startHour, endHour: Math.min(24, startHour + length) };
          const next = nextSendWindow(at, zone, w);
          expect(next.getTime()).toBeGreaterThanOrEqual(at.getTime());
          expect(inSendWindow(next, zone, w)).toBe(true);
          if (next.getTime() > at.getTime()) {
            const l = localTime(next, zone);
            expect(l.minute).toBe(0);
            expect(next.getTime() - at.getTime()).toBeLessThanOrEqual(8 * 86_400_000);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
