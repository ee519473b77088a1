import { DAY_MS } from '../clock.js';
import type { EventProperties, LeadEvent } from '../events.js';
import type { Scores } from '../lead.js';
import type { EngagementRule } from './model.js';

/** An engagement rule ready to evaluate: its filters compiled once. */
export interface CompiledEngagementRule {
  readonly rule: EngagementRule;
  readonly matches: (properties: EventProperties) => boolean;
}

/** Per-rule cap windows, as stored in `Scores.caps`. */
export type CapWindows = Scores['caps'];

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
  return { rule, matches: (p) => checks.every((check) => check(p)) };
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
 * never exceeding a cap matters more than crediting a straggler.
 */
export function awardCapped(
  caps: CapWindows,
  rule: EngagementRule,
  points: number,
  atMs: number,
): { awarded: number; caps: CapWindows } {
  if (rule.cap === undefined || points === 0) return { awarded: points, caps };
  const periodMs = rule.cap.periodDays * DAY_MS;
  const windowStartMs = Math.floor(atMs / periodMs) * periodMs;
  const current = caps[rule.id];
  const currentStartMs = current === undefined ? -Infinity : Date.parse(current.windowStart);
  if (currentStartMs > windowStartMs) return { awarded: 0, caps };
  const used = currentStartMs === windowStartMs && current !== undefined ? current.points : 0;
  const magnitude = Math.min(Math.abs(points), Math.max(0, rule.cap.points - used));
  const windowStart = new Date(windowStartMs).toISOString();
  return {
    awarded: Math.sign(points) * magnitude,
    caps: { ...caps, [rule.id]: { windowStart, points: used + magnitude } },
  };
}

function patternCheck(key: 'url' | 'link', re: RegExp): (p: EventProperties) => boolean {
  return (p) => {
    const value = p[key];
    return typeof value === 'string' && re.test(value);
  };
}
