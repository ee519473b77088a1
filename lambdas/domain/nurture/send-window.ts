import type { SendPolicy } from './tracks.js';
import { isTimeZone } from './tracks.js';

/** Wall-clock parts of an instant in a time zone. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** ISO weekday: Mon = 1 … Sun = 7. */
  weekday: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock time of `at` in `zone`. */
export function localTime(at: Date, zone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(zone).formatToParts(at)) parts[p.type] = p.value;
  const num = (k: string) => Number(parts[k] ?? NaN);
  return {
    year: num('year'),
    month: num('month'),
    day: num('day'),
    hour: num('hour'),
    minute: num('minute'),
    second: num('second'),
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? NaN,
  };
}

/** Milliseconds the zone is ahead of UTC at `at`. */
function offsetMs(at: Date, zone: string): number {
  const l = localTime(at, zone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant at which the wall clock in `zone` shows the given date and hour. In a DST gap the hour does not exist
 * and the next existing instant is returned; in an overlap, the earlier one.
 */
export function zonedInstant(zone: string, year: number, month: number, day: number, hour: number): Date {
  const guess = Date.UTC(year, month - 1, day, hour);
  const first = guess - offsetMs(new Date(guess), zone);
  const second = guess - offsetMs(new Date(first), zone);
  // The candidates that show the wall time asked for (`day` may overflow the month: compare the normalized date).
  // Next to a fall-back hour the first guess can land in the repeated hour before it, so check rather than trust.
  const wanted = new Date(guess);
  const shows = (t: number) => {
    const l = localTime(new Date(t), zone);
    return (
      l.year === wanted.getUTCFullYear() &&
      l.month === wanted.getUTCMonth() + 1 &&
      l.day === wanted.getUTCDate() &&
      l.hour === wanted.getUTCHours()
    );
  };
  const exact = [first, second].filter(shows);
  return new Date(Math.min(...(exact.length > 0 ? exact : [first, second])));
}

/** The lead's zone if it is a valid IANA name, else the policy's default. */
export function zoneFor(timeZone: string | undefined, policy: SendPolicy): string {
  return timeZone && isTimeZone(timeZone) ? timeZone : policy.defaultTimeZone;
}

/** True if `at` falls inside the send window in `zone`. */
export function inSendWindow(at: Date, zone: string, window: SendPolicy['sendWindow']): boolean {
  const l = localTime(at, zone);
  return window.days.includes(l.weekday) && l.hour >= window.startHour && l.hour < window.endHour;
}

/** `at` itself if inside the window, else the next instant the window opens in `zone`. */
export function nextSendWindow(at: Date, zone: string, window: SendPolicy['sendWindow']): Date {
  if (inSendWindow(at, zone, window)) return at;
  const today = localTime(at, zone);
  for (let d = 0; d <= 8; d++) {
    // Walk calendar days in the zone: noon of day d avoids DST edges when stepping.
    const noon = zonedInstant(zone, today.year, today.month, today.day + d, 12);
    const l = localTime(noon, zone);
    if (!window.days.includes(l.weekday)) continue;
    const opens = zonedInstant(zone, l.year, l.month, l.day, window.startHour);
    // On a spring-forward day the opening hour may not exist (02:00 → 03:00): that day has no window, or a later one.
    if (opens.getTime() > at.getTime() && inSendWindow(opens, zone, window)) return opens;
  }
  throw new Error('send window has no opening within 8 days'); // unreachable: days is non-empty
}
