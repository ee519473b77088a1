import type { LeadEvent } from '../events.js';
import type { Contribution, Lead, Scores, StageTransition } from '../lead.js';
import { assertNever } from '../errors.js';
import {
  DECAYED,
  SILENT,
  decideStage,
  hasLeadEvidence,
  isAsCreated,
  moveStage,
  nextTimedCheck,
  withReviewAt,
  type StageContext,
  type StageDecision,
  type TimedCheck,
} from '../lifecycle.js';
import { compile, type CompiledModel } from './compile.js';
import { applyEventEffects } from './effects.js';
import { awardCapped, decayFactor, isMachine, ruleFor, type CapWindows } from './engagement.js';
import { scoreFit, type FitResult } from './fit.js';
import type { ScoringModel } from './model.js';

/** A re-scored lead and the stage transitions that happened on the way, oldest first. */
export interface ScoringResult {
  lead: Lead;
  transitions: StageTransition[];
}

/**
 * Applies new events to a lead: the seam the scoring pipeline calls. Events are applied in order of occurrence
 * (then eventId; a repeated eventId counts once): their effects on profile, BANT, consent, attribution and
 * suppression, their engagement points (capped, decaying from their own occurredAt), and the stage moves they
 * cause. Then the lead is re-scored as of `now`: fit from the whole profile, engagement decayed to `now`, the
 * explanation, the stage re-checked and the next `reviewAt`. Pure and deterministic: transitions carry instants
 * and event ids derived from the inputs, so replays produce identical ones. Does not touch `version`.
 */
export function applyEvents(lead: Lead, events: LeadEvent[], model: ScoringModel, now: Date): ScoringResult {
  return scoreLead(lead, events, model, now, { dormancy: false });
}

/**
 * The lead as of `now` with no new events: engagement decayed, stages that time alone changes (an MQL decaying
 * below the threshold, a cool-off ending) re-checked. The GET endpoint's "score as of now" and the sweep use it.
 */
export function rescore(lead: Lead, model: ScoringModel, now: Date): ScoringResult {
  return scoreLead(lead, [], model, now, { dormancy: false });
}

/**
 * The scoring run shared by {@link applyEvents}, {@link rescore} and the requalification sweep, which alone also
 * applies dormancy (a lead is dormant because nobody acted, and only the schedule notices silence).
 */
export function scoreLead(
  lead: Lead,
  events: readonly LeadEvent[],
  model: ScoringModel,
  now: Date,
  options: { dormancy: boolean },
): ScoringResult {
  const m = compile(model);
  const nowMs = now.getTime();
  let run = startRun(lead, m);
  for (const event of chronological(events)) {
    const atMs = Math.min(Date.parse(event.occurredAt), nowMs);
    run = applyEvent(advance(run, m, atMs, options.dormancy), m, event, atMs);
  }
  run = settle(advance(run, m, nowMs, options.dormancy), m, nowMs);
  return finish(run, lead, m, nowMs);
}

/** Engagement held as `value` at the instant `atMs`; its value at any later time is a decay away. */
interface Held {
  readonly value: number;
  readonly atMs: number;
}

/** The state of a scoring run between events. */
interface Run {
  readonly lead: Lead;
  readonly fit: FitResult;
  readonly engagement: Held;
  /** When the lead was last scored (or created): the run picks up from here. */
  readonly startMs: number;
  /** Time-driven checks have run up to here. */
  readonly cursorMs: number;
  readonly caps: CapWindows;
  readonly lastHighIntentAt: string | undefined;
  /** Engagement contributions of this run's events; `decayedPoints` is filled in at the end. */
  readonly added: readonly Contribution[];
  readonly transitions: readonly StageTransition[];
}

function startRun(lead: Lead, m: CompiledModel): Run {
  const scores = lead.scores;
  const atMs = Date.parse(scores?.scoredAt ?? lead.createdAt);
  return {
    lead,
    fit: scoreFit(lead, m.fitRules, m.model),
    engagement: { value: scores?.engagement ?? 0, atMs },
    startMs: atMs,
    cursorMs: atMs,
    caps: capsStillInModel(scores?.caps ?? {}, m),
    lastHighIntentAt: scores?.lastHighIntentAt,
    added: [],
    transitions: [],
  };
}

/** Events in order of occurrence, then eventId; a repeated eventId counts once. */
function chronological(events: readonly LeadEvent[]): LeadEvent[] {
  const unique = new Map<string, { event: LeadEvent; ms: number }>();
  for (const event of events) {
    if (!unique.has(event.eventId)) unique.set(event.eventId, { event, ms: Date.parse(event.occurredAt) });
  }
  return [...unique.values()]
    .sort((a, b) => a.ms - b.ms || compareIds(a.event.eventId, b.event.eventId))
    .map((u) => u.event);
}

/** Runs the time-driven checks due by `untilMs`, each at its own instant. */
function advance(run: Run, m: CompiledModel, untilMs: number, dormancy: boolean): Run {
  let current = run;
  for (;;) {
    const { lead, engagement } = current;
    const check = nextTimedCheck(
      { lead, value: engagement.value, valueAtMs: engagement.atMs, model: m },
      current.cursorMs,
      untilMs,
      dormancy,
    );
    if (check === undefined) break;
    current = timedMove({ ...current, cursorMs: Math.max(current.cursorMs, check.atMs) }, m, check);
  }
  return { ...current, cursorMs: Math.max(current.cursorMs, untilMs) };
}

function timedMove(run: Run, m: CompiledModel, check: TimedCheck): Run {
  switch (check.kind) {
    case 'decay':
      return record(run, DECAYED, check.atMs);
    case 'dormancy':
      return record(run, SILENT, check.atMs);
    case 'cool_off':
      return decideAt(run, m, check.atMs, check.atMs);
    default:
      return assertNever(check.kind);
  }
}

function applyEvent(run: Run, m: CompiledModel, event: LeadEvent, atMs: number): Run {
  const affected = applyEventEffects(run.lead, event, atMs);
  const fit =
    affected.profile === run.lead.profile && affected.bant === run.lead.bant
      ? run.fit
      : scoreFit(affected, m.fitRules, m.model);
  const scored = scoreEngagement(run, m, event, atMs);
  const lead: Lead = {
    ...affected,
    ...leadSinceAfter(affected, m, event, atMs),
    ...(scored.engaged && { lastEngagedAt: latest(affected.lastEngagedAt, atMs) }),
  };
  const next: Run = {
    ...run,
    lead,
    fit,
    engagement: scored.engagement,
    caps: scored.caps,
    lastHighIntentAt: scored.lastHighIntentAt,
    added: scored.contribution ? [...run.added, scored.contribution] : run.added,
  };
  return decideAt(next, m, next.engagement.atMs, atMs, event);
}

/** How many moves one instant may cause: the event's own rule, then fit, then the stage's rule. */
const MAX_MOVES_PER_INSTANT = 4;

/**
 * Applies the stage move the lead earns as of `evalMs` (stamped `stampMs`), then re-checks without the event
 * until nothing more moves: a rejected competitor goes back to `lead` by the sales verdict, then out by its fit.
 */
function decideAt(run: Run, m: CompiledModel, evalMs: number, stampMs: number, event?: LeadEvent): Run {
  let current = run;
  let decision = decideStage({ ...contextAt(current, m, evalMs), ...(event && { event }) });
  for (let moves = 0; decision && moves < MAX_MOVES_PER_INSTANT; moves++) {
    current = record(current, decision, stampMs, event?.eventId);
    decision = decideStage(contextAt(current, m, evalMs));
  }
  return current;
}

interface ScoredEvent {
  engagement: Held;
  caps: CapWindows;
  lastHighIntentAt: string | undefined;
  contribution?: Contribution;
  /** A positive rule matched an action by the lead (even if a cap left no points). */
  engaged: boolean;
}

/**
 * The event's engagement points: the first matching rule scores it, capped; a machine-flagged event scores
 * `machinePoints` and is neither engagement nor intent. Points decay from the event's own time.
 */
function scoreEngagement(run: Run, m: CompiledModel, event: LeadEvent, atMs: number): ScoredEvent {
  const unscored = { caps: run.caps, lastHighIntentAt: run.lastHighIntentAt, engaged: false };
  const compiled = ruleFor(event, m.rulesByType);
  if (compiled === undefined) return { ...unscored, engagement: withPoints(run.engagement, 0, atMs, m) };
  const { rule } = compiled;
  const machine = isMachine(event);
  const { awarded, caps } = awardCapped(run.caps, rule, machine ? m.model.engagement.machinePoints : rule.points, atMs);
  return {
    engagement: withPoints(run.engagement, awarded, atMs, m),
    caps,
    lastHighIntentAt: !machine && rule.intent === 'high' ? latest(run.lastHighIntentAt, atMs) : run.lastHighIntentAt,
    ...(awarded !== 0 && {
      contribution: {
        ruleId: rule.id,
        kind: 'engagement',
        label: machine ? `${rule.label} (machine)` : rule.label,
        points: awarded,
        intent: rule.intent,
        at: iso(atMs),
        eventId: event.eventId,
      },
    }),
    engaged: !machine && rule.points > 0,
  };
}

/** Adds points earned at `atMs`. A late event (older than the held value) decays from its own time too. */
function withPoints(held: Held, points: number, atMs: number, m: CompiledModel): Held {
  return atMs >= held.atMs
    ? { value: held.value * decayFactor(atMs - held.atMs, m.halfLifeMs) + points, atMs }
    : { value: held.value + points * decayFactor(held.atMs - atMs, m.halfLifeMs), atMs: held.atMs };
}

function valueAt(held: Held, atMs: number, m: CompiledModel): number {
  return held.value * decayFactor(Math.max(0, atMs - held.atMs), m.halfLifeMs);
}

/** `leadSince` is the first time the lead did more than subscribe, or told us more than an email. */
function leadSinceAfter(lead: Lead, m: CompiledModel, event: LeadEvent, atMs: number): Partial<Lead> {
  if (lead.leadSince !== undefined && Date.parse(lead.leadSince) <= atMs) return {};
  const byEvent = !m.subscriberEvents.has(event.type) && !isMachine(event);
  return byEvent || hasLeadEvidence(lead, m) ? { leadSince: iso(atMs) } : {};
}

function contextAt(run: Run, m: CompiledModel, atMs: number): StageContext {
  return {
    lead: run.lead,
    fit: run.fit,
    engagement: valueAt(run.engagement, atMs, m),
    lastHighIntentAt: run.lastHighIntentAt,
    atMs,
    model: m,
  };
}

/**
 * Records a stage move. Its instant is strictly after the previous move (by a millisecond if need be), so the
 * history stays in order and no two transitions of a lead share an instant.
 */
function record(run: Run, decision: StageDecision, atMs: number, eventId?: string): Run {
  const previousMs = Date.parse(run.lead.stageChangedAt);
  const at = iso(Math.max(atMs, isAsCreated(run.lead) ? previousMs : previousMs + 1));
  const moved = moveStage(run.lead, decision, at, eventId);
  return { ...run, lead: moved.lead, transitions: [...run.transitions, moved.transition] };
}

/**
 * A re-check as of `now` with no event. Events and time have been dealt with, so only what was already true when
 * the run started can move the stage here: a lead never scored before (a competitor's address), or a model
 * change. The move is stamped at the run's start, the earliest instant it was true, so that when it is noticed
 * (and how events were batched) does not change the record.
 */
function settle(run: Run, m: CompiledModel, nowMs: number): Run {
  return decideAt(run, m, Math.max(nowMs, run.engagement.atMs), run.startMs);
}

function finish(run: Run, before: Lead, m: CompiledModel, nowMs: number): ScoringResult {
  const scoredAtMs = Math.max(nowMs, run.engagement.atMs);
  const engagement = valueAt(run.engagement, scoredAtMs, m);
  const scores: Scores = {
    fit: run.fit.score,
    engagement,
    total: run.fit.score + engagement,
    grade: run.fit.grade,
    contributions: [
      ...fitContributions(run.fit),
      ...significantEngagement([...engagementOf(before), ...run.added], m, scoredAtMs),
    ],
    scoredAt: iso(scoredAtMs),
    ...(run.lastHighIntentAt !== undefined && { lastHighIntentAt: run.lastHighIntentAt }),
    caps: run.caps,
  };
  return { lead: withReviewAt({ ...run.lead, scores }, m, nowMs), transitions: [...run.transitions] };
}

function fitContributions(fit: FitResult): Contribution[] {
  return fit.matches.map((rule) => ({ ruleId: rule.id, kind: 'fit', label: rule.label, points: rule.points }));
}

function engagementOf(lead: Lead): Contribution[] {
  return lead.scores?.contributions.filter((c) => c.kind === 'engagement') ?? [];
}

/**
 * The `maxContributions` engagement contributions that weigh most as of `scoredAtMs`, each with its decayed points.
 * All points decay at the same rate, so "most significant" is the same order at any time: ranking by
 * `log2|points| + at / halfLife` gives one answer however the events were batched.
 */
function significantEngagement(contributions: Contribution[], m: CompiledModel, scoredAtMs: number): Contribution[] {
  return contributions
    .map((c) => {
      const atMs = c.at === undefined ? scoredAtMs : Date.parse(c.at);
      return { c, atMs, weight: Math.log2(Math.abs(c.points)) + atMs / m.halfLifeMs };
    })
    .sort((a, b) => b.weight - a.weight || b.atMs - a.atMs || compareIds(a.c.eventId ?? '', b.c.eventId ?? ''))
    .slice(0, m.model.engagement.maxContributions)
    .map(({ c, atMs }) => ({ ...c, decayedPoints: round2(c.points * decayFactor(scoredAtMs - atMs, m.halfLifeMs)) }));
}

/** Cap windows of rules that are no longer capped in the model are dropped. */
function capsStillInModel(caps: CapWindows, m: CompiledModel): CapWindows {
  const ids = Object.keys(caps);
  return ids.every((id) => m.cappedRuleIds.has(id))
    ? caps
    : Object.fromEntries(Object.entries(caps).filter(([ruleId]) => m.cappedRuleIds.has(ruleId)));
}

function latest(current: string | undefined, atMs: number): string {
  return current !== undefined && Date.parse(current) >= atMs ? current : iso(atMs);
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const round2 = (x: number): number => Math.round(x * 100) / 100;
const iso = (ms: number): string => new Date(ms).toISOString();
