import type { LeadEvent } from '../events.js';
import { formatInstant, parseInstant, storedInstant } from '../instant.js';
import type { Contribution, Lead, Scores, StageTransition } from '../lead.js';
import { assertNever } from '../errors.js';
import {
  DECAYED,
  SILENT,
  decideStage,
  hasLeadEvidence,
  hasProfileEvidence,
  isAsCreated,
  moveStage,
  nextReviewAt,
  nextTimedCheck,
  type StageContext,
  type StageDecision,
  type TimedCheck,
} from '../lifecycle.js';
import { compile, type CompiledModel } from './compile.js';
import { LeadDraft, copyOf } from './draft.js';
import { applyEventEffects } from './effects.js';
import {
  awardWithinCap,
  decayFactor,
  decayedPoints,
  isMachine,
  ruleFor,
  type CapUsage,
  type CapWindows,
  type CompiledCap,
} from './engagement.js';
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
 *
 * One run keeps its state in place — a draft of the lead, engagement and cap windows as plain numbers, the
 * contributions and transitions it adds — and builds the result once, at the end; the lead passed in is not written.
 */
export function scoreLead(
  lead: Lead,
  events: readonly LeadEvent[],
  model: ScoringModel,
  now: Date,
  options: { dormancy: boolean },
): ScoringResult {
  const nowMs = now.getTime();
  const run = startRun(lead, compile(model), options.dormancy);
  for (const { event, ms } of chronological(events)) {
    const atMs = Math.min(ms, nowMs);
    advance(run, atMs);
    applyEvent(run, event, ms, atMs);
  }
  advance(run, nowMs);
  settle(run, nowMs);
  return finish(run, nowMs);
}

/** The state of a scoring run between events. */
interface Run {
  readonly model: CompiledModel;
  readonly lead: LeadDraft;
  readonly dormancy: boolean;
  fit: FitResult;
  /** Engagement held as `value` at the instant `valueAtMs`; its value at any later time is a decay away. */
  value: number;
  valueAtMs: number;
  /** When the lead was last scored (or created): the run picks up from here. */
  readonly startMs: number;
  /** Time-driven checks have run up to here. */
  cursorMs: number;
  readonly caps: CapState;
  lastHighIntentMs: number | undefined;
  /** Its text as stored, until the run moves it. */
  lastHighIntentAt: string | undefined;
  /** Engagement contributions of this run's events (`decayedPoints` is filled in at the end), and their instants. */
  readonly added: Contribution[];
  readonly addedAtMs: number[];
  readonly transitions: StageTransition[];
  /** What the stage rules are shown, filled in afresh for each decision (they keep nothing of it). */
  readonly context: { -readonly [K in keyof StageContext]: StageContext[K] };
}

function startRun(before: Lead, m: CompiledModel, dormancy: boolean): Run {
  const scores = before.scores;
  const atMs = parseInstant(scores?.scoredAt ?? before.createdAt);
  const lead = new LeadDraft(before);
  lead.profileEvidence = hasProfileEvidence(lead, m);
  const lastHighIntentAt = scores?.lastHighIntentAt;
  const fit = scoreFit(lead, m.fit);
  return {
    model: m,
    lead,
    dormancy,
    fit,
    value: scores?.engagement ?? 0,
    valueAtMs: atMs,
    startMs: atMs,
    cursorMs: atMs,
    caps: new CapState(capsStillInModel(scores?.caps ?? {}, m)),
    lastHighIntentMs: lastHighIntentAt === undefined ? undefined : parseInstant(lastHighIntentAt),
    lastHighIntentAt,
    added: [],
    addedAtMs: [],
    transitions: [],
    context: { lead, fit, engagement: 0, lastHighIntentMs: undefined, atMs, event: undefined, model: m },
  };
}

/** Events in order of occurrence, then eventId, each with its instant; a repeated eventId counts once. */
function chronological(events: readonly LeadEvent[]): { event: LeadEvent; ms: number }[] {
  const [only] = events;
  if (events.length === 1 && only !== undefined) return [{ event: only, ms: parseInstant(only.occurredAt) }];
  const unique = new Map<string, { event: LeadEvent; ms: number }>();
  for (const event of events) {
    if (!unique.has(event.eventId)) unique.set(event.eventId, { event, ms: parseInstant(event.occurredAt) });
  }
  return [...unique.values()].sort((a, b) => a.ms - b.ms || compareIds(a.event.eventId, b.event.eventId));
}

/** Runs the time-driven checks due by `untilMs`, each at its own instant. */
function advance(run: Run, untilMs: number): void {
  for (;;) {
    const check = nextTimedCheck(run, run.cursorMs, untilMs, run.dormancy);
    if (check === undefined) break;
    run.cursorMs = Math.max(run.cursorMs, check.atMs);
    timedMove(run, check);
  }
  run.cursorMs = Math.max(run.cursorMs, untilMs);
}

function timedMove(run: Run, check: TimedCheck): void {
  switch (check.kind) {
    case 'decay':
      return record(run, DECAYED, check.atMs);
    case 'dormancy':
      return record(run, SILENT, check.atMs);
    case 'cool_off':
      return decideAt(run, check.atMs, check.atMs);
    default:
      return assertNever(check.kind);
  }
}

/** One event: its effects on the lead, its engagement points, and the stage moves they cause (`atMs`: capped at now). */
function applyEvent(run: Run, event: LeadEvent, eventMs: number, atMs: number): void {
  const { lead, model: m } = run;
  if (applyEventEffects(lead, event, eventMs, atMs)) {
    run.fit = scoreFit(lead, m.fit);
    lead.profileEvidence = hasProfileEvidence(lead, m);
  }
  const engaged = scoreEngagement(run, event, atMs);
  markLeadSince(run, event, atMs);
  if (engaged) {
    if (!(lead.lastEngagedAtMs !== undefined && lead.lastEngagedAtMs >= atMs)) lead.setLastEngagedAt(atMs);
    lead.note('lastEngagedAt');
  }
  decideAt(run, run.valueAtMs, atMs, event);
}

/** How many moves one instant may cause: the event's own rule, then fit, then the stage's rule. */
const MAX_MOVES_PER_INSTANT = 4;

/**
 * Applies the stage move the lead earns as of `evalMs` (stamped `stampMs`), then re-checks without the event
 * until nothing more moves: a rejected competitor goes back to `lead` by the sales verdict, then out by its fit.
 */
function decideAt(run: Run, evalMs: number, stampMs: number, event?: LeadEvent): void {
  let decision = decideStage(contextAt(run, evalMs, event));
  for (let moves = 0; decision && moves < MAX_MOVES_PER_INSTANT; moves++) {
    record(run, decision, stampMs, event?.eventId);
    decision = decideStage(contextAt(run, evalMs, undefined));
  }
}

/**
 * The event's engagement points: the first matching rule scores it, capped; a machine-flagged event scores
 * `machinePoints` and is neither engagement nor intent. Points decay from the event's own time. Returns whether a
 * positive rule matched an action by the lead (even if a cap left no points).
 */
function scoreEngagement(run: Run, event: LeadEvent, atMs: number): boolean {
  const m = run.model;
  const compiled = ruleFor(event, m.rulesByType);
  if (compiled === undefined) {
    addPoints(run, 0, atMs);
    return false;
  }
  const { rule } = compiled;
  const machine = isMachine(event);
  const points = machine ? m.model.engagement.machinePoints : rule.points;
  const awarded =
    compiled.cap !== undefined && points !== 0 ? run.caps.award(rule.id, compiled.cap, points, atMs) : points;
  addPoints(run, awarded, atMs);
  if (!machine && rule.intent === 'high' && !(run.lastHighIntentMs !== undefined && run.lastHighIntentMs >= atMs)) {
    run.lastHighIntentMs = storedInstant(atMs);
    run.lastHighIntentAt = undefined;
  }
  if (awarded !== 0) {
    run.added.push({
      ruleId: rule.id,
      kind: 'engagement',
      label: machine ? compiled.machineLabel : rule.label,
      points: awarded,
      intent: rule.intent,
      at: formatInstant(atMs),
      eventId: event.eventId,
    });
    run.addedAtMs.push(storedInstant(atMs));
  }
  return !machine && rule.points > 0;
}

/** Adds points earned at `atMs`. A late event (older than the held value) decays from its own time too. */
function addPoints(run: Run, points: number, atMs: number): void {
  const h = run.model.halfLifeMs;
  if (atMs >= run.valueAtMs) {
    run.value = decayed(run.value, atMs - run.valueAtMs, h) + points;
    run.valueAtMs = atMs;
  } else {
    // Zero points (of either sign) add themselves whatever they decay by: no power to compute.
    run.value += points === 0 ? points : points * decayFactor(run.valueAtMs - atMs, h);
  }
}

/** `value` decayed by `elapsedMs` (none when it is not positive). */
function decayed(value: number, elapsedMs: number, halfLifeMs: number): number {
  return elapsedMs <= 0 ? value : value * decayFactor(elapsedMs, halfLifeMs);
}

/** `leadSince` is the first time the lead did more than subscribe, or told us more than an email. */
function markLeadSince(run: Run, event: LeadEvent, atMs: number): void {
  const lead = run.lead;
  if (lead.leadSinceMs !== undefined && lead.leadSinceMs <= atMs) return;
  const byEvent = !run.model.subscriberEvents.has(event.type) && !isMachine(event);
  if (byEvent || hasLeadEvidence(lead)) {
    lead.setLeadSince(atMs);
    lead.note('leadSince');
  }
}

function contextAt(run: Run, atMs: number, event: LeadEvent | undefined): StageContext {
  const context = run.context;
  context.fit = run.fit;
  context.engagement = decayed(run.value, atMs - run.valueAtMs, run.model.halfLifeMs);
  context.lastHighIntentMs = run.lastHighIntentMs;
  context.atMs = atMs;
  context.event = event;
  return context;
}

/**
 * Records a stage move. Its instant is strictly after the previous move (by a millisecond if need be), so the
 * history stays in order and no two transitions of a lead share an instant.
 */
function record(run: Run, decision: StageDecision, atMs: number, eventId?: string): void {
  const previousMs = run.lead.stageChangedAtMs;
  const at = formatInstant(Math.max(atMs, isAsCreated(run.lead) ? previousMs : previousMs + 1));
  run.transitions.push(moveStage(run.lead, decision, at, eventId));
}

/**
 * A re-check as of `now` with no event. Events and time have been dealt with, so only what was already true when
 * the run started can move the stage here: a lead never scored before (a competitor's address), or a model
 * change. The move is stamped at the run's start, the earliest instant it was true, so that when it is noticed
 * (and how events were batched) does not change the record.
 */
function settle(run: Run, nowMs: number): void {
  decideAt(run, Math.max(nowMs, run.valueAtMs), run.startMs);
}

function finish(run: Run, nowMs: number): ScoringResult {
  const m = run.model;
  const scoredAtMs = Math.max(nowMs, run.valueAtMs);
  const engagement = decayed(run.value, scoredAtMs - run.valueAtMs, m.halfLifeMs);
  const lastHighIntentAt =
    run.lastHighIntentAt ?? (run.lastHighIntentMs === undefined ? undefined : formatInstant(run.lastHighIntentMs));
  const fit = run.fit;
  const contributions = fitContributions(fit);
  for (const c of significantEngagement(run, scoredAtMs)) contributions.push(c);
  const scoredAt = formatInstant(scoredAtMs);
  const caps = run.caps.toStored();
  const total = fit.score + engagement;
  const scores: Scores =
    lastHighIntentAt === undefined
      ? { fit: fit.score, engagement, total, grade: fit.grade, contributions, scoredAt, caps }
      : { fit: fit.score, engagement, total, grade: fit.grade, contributions, scoredAt, lastHighIntentAt, caps };
  const reviewAt = nextReviewAt(run.lead, { engagement, scoredAtMs: storedInstant(scoredAtMs) }, m, nowMs);
  return { lead: run.lead.toLead(scores, reviewAt), transitions: run.transitions };
}

function fitContributions(fit: FitResult): Contribution[] {
  const contributions: Contribution[] = [];
  for (const rule of fit.matches) {
    contributions.push({ ruleId: rule.id, kind: 'fit', label: rule.label, points: rule.points });
  }
  return contributions;
}

/**
 * The `maxContributions` engagement contributions that weigh most as of `scoredAtMs` (the stored ones and this
 * run's), each with its decayed points. All points decay at the same rate, so "most significant" is the same order
 * at any time: ranking by `log2|points| + at / halfLife` gives one answer however the events were batched.
 */
function significantEngagement(run: Run, scoredAtMs: number): Contribution[] {
  const h = run.model.halfLifeMs;
  const ranked = new Ranking(h);
  for (const c of run.lead.before.scores?.contributions ?? []) {
    if (c.kind === 'engagement') ranked.add(c, c.at === undefined ? scoredAtMs : parseInstant(c.at));
  }
  const stored = ranked.size;
  for (const [i, c] of run.added.entries()) ranked.add(c, run.addedAtMs[i] ?? scoredAtMs);
  const order = ranked.order(stored);
  const kept: Contribution[] = [];
  for (let k = 0; k < order.length && k < run.model.model.engagement.maxContributions; k++) {
    const i = order[k] ?? 0;
    const c = ranked.contributions[i] as Contribution;
    kept.push(withDecayedPoints(c, decayedPoints(c.points, scoredAtMs - ranked.atMs(i), h)));
  }
  return kept;
}

/** Contributions with their instants and weights, ranked most significant first. */
class Ranking {
  readonly contributions: Contribution[] = [];
  readonly #atMs: number[] = [];
  readonly #weight: number[] = [];
  #comparable = true;

  constructor(private readonly halfLifeMs: number) {}

  get size(): number {
    return this.contributions.length;
  }

  add(c: Contribution, atMs: number): void {
    const weight = Math.log2(Math.abs(c.points)) + atMs / this.halfLifeMs;
    this.contributions.push(c);
    this.#atMs.push(atMs);
    this.#weight.push(weight);
    this.#comparable &&= !Number.isNaN(weight) && !Number.isNaN(atMs);
  }

  atMs(i: number): number {
    return this.#atMs[i] ?? NaN;
  }

  /** Negative when `a` ranks before `b`: weight, then the later instant, then the event id. */
  compare(a: number, b: number): number {
    const w = (this.#weight[b] ?? 0) - (this.#weight[a] ?? 0);
    return (
      w ||
      this.atMs(b) - this.atMs(a) ||
      compareIds(this.contributions[a]?.eventId ?? '', this.contributions[b]?.eventId ?? '')
    );
  }

  /**
   * The indices in the order a stable sort by {@link compare} gives. The first `stored` came from a lead this
   * function ranked before, so they are usually in order already: then the others are sorted and merged in, which
   * is that same order (the comparison is a total preorder when no weight is NaN; else everything is sorted).
   */
  order(stored: number): number[] {
    const n = this.contributions.length;
    let sorted = this.#comparable;
    for (let i = 1; sorted && i < stored; i++) sorted = this.compare(i - 1, i) <= 0;
    if (!sorted) return Array.from({ length: n }, (_, i) => i).sort((a, b) => this.compare(a, b));
    const added = Array.from({ length: n - stored }, (_, i) => stored + i);
    if (added.length > 1) added.sort((a, b) => this.compare(a, b));
    const merged: number[] = [];
    let s = 0;
    for (const next of added) {
      while (s < stored && this.compare(s, next) <= 0) merged.push(s++);
      merged.push(next);
    }
    while (s < stored) merged.push(s++);
    return merged;
  }
}

/**
 * `{ ...c, decayedPoints }`: `c` itself when it already says so, else a literal when `c` has the keys of a
 * contribution in the order a scoring run or the `Lead` schema writes them (a spread costs several times more;
 * the keys and their order come out the same).
 */
function withDecayedPoints(c: Contribution, decayedPoints: number): Contribution {
  if (Object.is(c.decayedPoints, decayedPoints) && Object.hasOwn(c, 'decayedPoints')) return c;
  const { ruleId, kind, label, points, intent, at, eventId } = c;
  switch (layoutOf(c)) {
    case 'run':
      return { ruleId, kind, label, points, intent, at, eventId, decayedPoints };
    case 'schema':
      return { ruleId, kind, label, points, intent, at, decayedPoints, eventId };
    case undefined:
      return { ...c, decayedPoints };
  }
}

const RUN_KEYS = ['ruleId', 'kind', 'label', 'points', 'intent', 'at', 'eventId', 'decayedPoints'];
const SCHEMA_KEYS = ['ruleId', 'kind', 'label', 'points', 'intent', 'at', 'decayedPoints', 'eventId'];

/** Which of the two orders `c`'s keys are in: all eight (`run` also without `decayedPoints`), nothing else. */
function layoutOf(c: Contribution): 'run' | 'schema' | undefined {
  let run = true;
  let schema = true;
  let count = 0;
  for (const key in c) {
    run &&= key === RUN_KEYS[count];
    schema &&= key === SCHEMA_KEYS[count];
    count++;
  }
  if (run && (count === 7 || count === 8)) return 'run';
  return schema && count === 8 ? 'schema' : undefined;
}

/**
 * The cap windows of one run: as stored, and the rules' usage as plain numbers once the run has touched them. The
 * stored windows of rules no longer capped in the model are dropped.
 */
class CapState {
  #usage: Map<string, CapUsage | undefined> | undefined;
  readonly #changed: string[] = [];

  constructor(private readonly stored: CapWindows) {}

  /** The points a capped rule awards at `atMs`; the rule's window is updated. */
  award(ruleId: string, cap: CompiledCap, points: number, atMs: number): number {
    const usage = this.#usageOf(ruleId);
    const next = awardWithinCap(usage, cap, points, atMs);
    if (next.usage !== usage) {
      this.#usage?.set(ruleId, next.usage);
      if (!this.#changed.includes(ruleId)) this.#changed.push(ruleId);
    }
    return next.awarded;
  }

  /** The windows to store: the same object when no window changed. */
  toStored(): CapWindows {
    if (this.#changed.length === 0) return this.stored;
    const caps = copyOf(this.stored);
    for (const ruleId of this.#changed) {
      const usage = this.#usage?.get(ruleId);
      if (usage) caps[ruleId] = { windowStart: formatInstant(usage.windowStartMs), points: usage.points };
    }
    return caps;
  }

  #usageOf(ruleId: string): CapUsage | undefined {
    this.#usage ??= new Map();
    if (this.#usage.has(ruleId)) return this.#usage.get(ruleId);
    const window = Object.hasOwn(this.stored, ruleId) ? this.stored[ruleId] : undefined;
    const usage = window && { windowStartMs: parseInstant(window.windowStart), points: window.points };
    this.#usage.set(ruleId, usage);
    return usage;
  }
}

function capsStillInModel(caps: CapWindows, m: CompiledModel): CapWindows {
  let all = true;
  for (const id in caps) if (Object.hasOwn(caps, id) && !m.cappedRuleIds.has(id)) all = false;
  return all ? caps : Object.fromEntries(Object.entries(caps).filter(([ruleId]) => m.cappedRuleIds.has(ruleId)));
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
