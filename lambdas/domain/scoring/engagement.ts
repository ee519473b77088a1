import { DAY_MS } from '../clock.js';
import type { EventProperties, LeadEvent } from '../events.js';
import { formatInstant, parseInstant, storedInstant } from '../instant.js';
import type { Scores } from '../lead.js';
import type { EngagementRule } from './model.js';

/** An engagement rule's cap as plain numbers: at most `points` (in absolute value) per window of `periodMs`. */
export interface CompiledCap {
  readonly points: number;
  readonly periodMs: number;
}

/** An engagement rule ready to evaluate: its filters compiled once, its cap in milliseconds. */
export interface CompiledEngagementRule {
  readonly rule: EngagementRule;
  readonly matches: (properties: EventProperties) => boolean;
  readonly cap: CompiledCap | undefined;
  /** The explanation's label for a machine-flagged event. */
  readonly machineLabel: string;
}

/** Per-rule cap windows, as stored in `Scores.caps`. */
export type CapWindows = Scores['caps'];

/** A capped rule's use of its current window: where the window starts (as stored, whole ms) and the points counted. */
export interface CapUsage {
  readonly windowStartMs: number;
  readonly points: number;
}

/** Compiles the property filters of one engagement rule; all given filters must match. */
export function compileEngagementRule(rule: EngagementRule): CompiledEngagementRule {
  const checks: ((p: EventProperties) => boolean)[] = [];
  const where = rule.where;
  if (where?.formId !== undefined) {
    const ids = new Set(typeof where.formId === 'string' ? [where.formId] : where.formId);
    checks.push((p) => typeof p.formId === 'string' && ids.has(p.formId));
  }
  if (where?.url !== undefined) checks.push(patternCheck('url', new RegExp(where.url, 'i')));
  if (where?.link !== undefined) checks.push(patternCheck('link', new RegExp(where.link, 'i')));
  if (where?.bounceType !== undefined) {
    const expected = where.bounceType;
    checks.push((p) => bounceTypeOf(p) === expected);
  }
  return {
    rule,
    matches: (p) => checks.every((check) => check(p)),
    cap: rule.cap && { points: rule.cap.points, periodMs: rule.cap.periodDays * DAY_MS },
    machineLabel: `${rule.label} (machine)`,
  };
}

/** The first rule (in model order) whose event type and filters match: one rule scores an event. */
export function ruleFor(
  event: LeadEvent,
  rulesByType: ReadonlyMap<string, readonly CompiledEngagementRule[]>,
): CompiledEngagementRule | undefined {
  return rulesByType.get(event.type)?.find((candidate) => candidate.matches(event.properties));
}

/** True for opens and clicks that the SES mapping flagged as made by a machine (link scanners, image proxies). */
export const isMachine = (event: LeadEvent): boolean => event.properties.machine === true;

/** A bounce is permanent only when said so; anything else (transient, undetermined, missing) is transient. */
export const bounceTypeOf = (properties: EventProperties): 'permanent' | 'transient' =>
  properties.bounceType === 'permanent' ? 'permanent' : 'transient';

/** The share of a value left after `elapsedMs`: exactly `2^(-elapsed / halfLife)`. */
export const decayFactor = (elapsedMs: number, halfLifeMs: number): number => 2 ** (-elapsedMs / halfLifeMs);

/**
 * A contribution's points left after `elapsedMs`, to the cent: exactly `round2(points * decayFactor(elapsed))`.
 *
 * The explanation re-decays every kept contribution at each scoring, and the power is most of that cost. Only the
 * rounding of the product matters, so it is decided from `exp(x ln 2)` — several times cheaper, and within 1e-13
 * (relative) of the power for the exponents allowed here — whenever that product is not within a billionth of a
 * rounding boundary; otherwise (about once in a billion) the exact power decides. Either way the result is the same.
 */
export function decayedPoints(points: number, elapsedMs: number, halfLifeMs: number): number {
  const x = -elapsedMs / halfLifeMs;
  if (x >= -1000 && x <= 1000) {
    const cents = points * Math.exp(x * Math.LN2) * 100;
    const fraction = cents - Math.floor(cents);
    if (Math.abs(cents) < 2 ** 50 && Math.abs(fraction - 0.5) > 1e-9 * Math.max(1, Math.abs(cents))) {
      return Math.round(cents) / 100;
    }
  }
  return Math.round(points * decayFactor(elapsedMs, halfLifeMs) * 100) / 100;
}

/**
 * Engagement as of `now`, decayed exactly and lazily from the value stored at `scoredAt`:
 * `engagement * 2^(-(now - scoredAt) / halfLife)`. Never "un-decays" when `now` is before `scoredAt`.
 */
export function decayedEngagement(
  scores: Pick<Scores, 'engagement' | 'scoredAt'>,
  halfLifeDays: number,
  now: Date,
): number {
  const elapsed = Math.max(0, now.getTime() - Date.parse(scores.scoredAt));
  return scores.engagement * decayFactor(elapsed, halfLifeDays * DAY_MS);
}

/**
 * The first whole millisecond at which `value` (held at `atMs`) has decayed below `threshold`, or undefined if it
 * never will (it is not above a positive threshold). Solves `value * 2^(-(t - at) / h) = threshold` for t.
 */
export function decayCrossing(value: number, atMs: number, threshold: number, halfLifeMs: number): number | undefined {
  if (threshold <= 0 || value < threshold) return undefined;
  return Math.floor(atMs + halfLifeMs * Math.log2(value / threshold)) + 1;
}

/**
 * Awards a capped rule's points: at most `cap.points` (in absolute value) per fixed window of `cap.periodDays`,
 * windows aligned to the Unix epoch so that batching cannot move them. An event older than the rule's current
 * window (it arrived late, after a newer window opened) scores nothing: the old window's usage is gone, and
 * never exceeding a cap matters more than crediting a straggler. Caps as stored; see {@link awardWithinCap}.
 */
export function awardCapped(
  caps: CapWindows,
  rule: EngagementRule,
  points: number,
  atMs: number,
): { awarded: number; caps: CapWindows } {
  if (rule.cap === undefined || points === 0) return { awarded: points, caps };
  const current = caps[rule.id];
  const before = current && { windowStartMs: parseInstant(current.windowStart), points: current.points };
  const cap = { points: rule.cap.points, periodMs: rule.cap.periodDays * DAY_MS };
  const { awarded, usage } = awardWithinCap(before, cap, points, atMs);
  if (usage === before || usage === undefined) return { awarded, caps };
  return {
    awarded,
    caps: { ...caps, [rule.id]: { windowStart: formatInstant(usage.windowStartMs), points: usage.points } },
  };
}

/** {@link awardCapped} on a rule's usage as plain numbers: the points awarded and the usage after (the same if untouched). */
export function awardWithinCap(
  usage: CapUsage | undefined,
  cap: CompiledCap,
  points: number,
  atMs: number,
): { awarded: number; usage: CapUsage | undefined } {
  const windowStartMs = Math.floor(atMs / cap.periodMs) * cap.periodMs;
  const currentStartMs = usage === undefined ? -Infinity : usage.windowStartMs;
  if (currentStartMs > windowStartMs) return { awarded: 0, usage };
  const used = usage !== undefined && currentStartMs === windowStartMs ? usage.points : 0;
  const magnitude = Math.min(Math.abs(points), Math.max(0, cap.points - used));
  return {
    awarded: Math.sign(points) * magnitude,
    // The window is kept as its stored text reads back (a fractional millisecond does not survive storage).
    usage: { windowStartMs: storedInstant(windowStartMs), points: used + magnitude },
  };
}

function patternCheck(key: 'url' | 'link', re: RegExp): (p: EventProperties) => boolean {
  return (p) => {
    const value = p[key];
    return typeof value === 'string' && re.test(value);
  };
}
