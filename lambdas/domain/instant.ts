/**
 * Instants as epoch milliseconds, read from and written as ISO-8601 text with exactly the results of `Date.parse`
 * and `Date.prototype.toISOString`, only faster for the one form Leadloop writes (`2025-01-06T09:00:00.000Z`, years
 * 0000–9999). A scoring run reads and writes several instants per event, and the built-ins cost more than the rest of
 * applying an event; any other text or value is handed to the built-ins, so the results are the same for every input.
 */

const DAY_MS = 86_400_000;
/** `0000-01-01T00:00:00.000Z` and `10000-01-01T00:00:00.000Z`: the years toISOString writes with four digits. */
const FIRST_MS = -62_167_219_200_000;
const END_MS = 253_402_300_800_000;

/** `Date.parse(text)`. */
export function parseInstant(text: string): number {
  // A lead's instants often repeat (last activity, last engagement, the newest contribution): the last one is kept.
  if (text === parsed.text) return parsed.ms;
  const canonical = parseCanonical(text);
  const ms = Number.isNaN(canonical) ? Date.parse(text) : canonical;
  parsed = { text, ms };
  if (!Number.isNaN(canonical)) formatted = parsed;
  return ms;
}

/** `new Date(ms).toISOString()` (which truncates a fractional millisecond and throws for an invalid time). */
export function formatInstant(ms: number): string {
  if (ms === formatted.ms) return formatted.text;
  const text = format(ms);
  formatted = { text, ms };
  return text;
}

/** The last text read and the last instant written (or read from its canonical text). */
let parsed = { text: '', ms: NaN };
let formatted = { text: '', ms: NaN };

/** The instant of a canonical text (`dddd-dd-ddTdd:dd:dd.dddZ` with every field in range), else NaN. */
function parseCanonical(text: string): number {
  if (text.length !== 24 || !hasSeparators(text)) return NaN;
  const y0 = codeAt(text, 0);
  const y1 = codeAt(text, 1);
  const y2 = codeAt(text, 2);
  const y3 = codeAt(text, 3);
  const mo0 = codeAt(text, 5);
  const mo1 = codeAt(text, 6);
  const d0 = codeAt(text, 8);
  const d1 = codeAt(text, 9);
  const h0 = codeAt(text, 11);
  const h1 = codeAt(text, 12);
  const mi0 = codeAt(text, 14);
  const mi1 = codeAt(text, 15);
  const s0 = codeAt(text, 17);
  const s1 = codeAt(text, 18);
  const ms0 = codeAt(text, 20);
  const ms1 = codeAt(text, 21);
  const ms2 = codeAt(text, 22);
  // A code c is a digit when 0 <= c <= 9: then neither c nor c + 6 has a bit above the lowest four.
  const any = y0 | y1 | y2 | y3 | mo0 | mo1 | d0 | d1 | h0 | h1 | mi0 | mi1 | s0 | s1 | ms0 | ms1 | ms2;
  const plus6 = (y0 + 6) | (y1 + 6) | (y2 + 6) | (y3 + 6) | (mo0 + 6) | (mo1 + 6) | (d0 + 6) | (d1 + 6) | (h0 + 6);
  const plus6b = (h1 + 6) | (mi0 + 6) | (mi1 + 6) | (s0 + 6) | (s1 + 6) | (ms0 + 6) | (ms1 + 6) | (ms2 + 6);
  if (((any | plus6 | plus6b) & ~15) !== 0) return NaN;
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = mo0 * 10 + mo1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = mi0 * 10 + mi1;
  const second = s0 * 10 + s1;
  // Out-of-range fields (Feb 30, 24:00) are the built-in's to interpret or reject.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return NaN;
  }
  const time = hour * 3_600_000 + minute * 60_000 + second * 1_000 + ms0 * 100 + ms1 * 10 + ms2;
  return daysFromCivil(year, month, day) * DAY_MS + time;
}

function format(ms: number): string {
  if (!Number.isInteger(ms) || ms < FIRST_MS || ms >= END_MS) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1_000);
  const milli = rest - second * 1_000;
  const { year, month, day } = dateOf(days);
  const century = Math.floor(year / 100);
  // One flat string (a concatenation would be flattened again when the text is first compared or written).
  // prettier-ignore
  return String.fromCharCode(
    tens(century), ones(century), tens(year), ones(year), DASH, tens(month), ones(month), DASH, tens(day), ones(day), T,
    tens(hour), ones(hour), COLON, tens(minute), ones(minute), COLON, tens(second), ones(second), DOT,
    ZERO + Math.floor(milli / 100), tens(milli), ones(milli), Z,
  );
}

/** What `Date.parse` makes of `formatInstant(ms)`: the instant a stored text stands for (`TimeClip`). */
export function storedInstant(ms: number): number {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? Math.trunc(ms) + 0 : NaN;
}

const ZERO = 48;
const DASH = 45;
const T = 84;
const COLON = 58;
const DOT = 46;
const Z = 90;

/** The character code at `at` less that of '0': the digit's value if it is one. */
function codeAt(text: string, at: number): number {
  return text.charCodeAt(at) - ZERO;
}

function hasSeparators(text: string): boolean {
  return (
    text.charCodeAt(4) === DASH &&
    text.charCodeAt(7) === DASH &&
    text.charCodeAt(10) === T &&
    text.charCodeAt(13) === COLON &&
    text.charCodeAt(16) === COLON &&
    text.charCodeAt(19) === DOT &&
    text.charCodeAt(23) === Z
  );
}

/** Character codes of the tens and ones digits of `n` (taken modulo 100). */
const tens = (n: number): number => ZERO + (Math.floor(n / 10) % 10);
const ones = (n: number): number => ZERO + (n % 10);

/** The date of a day number; consecutive instants mostly fall on one day, so the last one is kept. */
let lastDate = { days: NaN, year: 0, month: 0, day: 0 };
function dateOf(days: number): { year: number; month: number; day: number } {
  if (lastDate.days !== days) {
    const { year, month, day } = civilFromDays(days);
    lastDate = { days, year, month, day };
  }
  return lastDate;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The date of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return {
    year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0),
    month,
    day: dayOfYear - Math.floor((153 * mp + 2) / 5) + 1,
  };
}
