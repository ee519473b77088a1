import { assertNever } from './errors.js';
import type { LeadEvent } from './events.js';
import { formatInstant, parseInstant } from './instant.js';
import type { DisqualificationReason, Lead, Stage, StageTransition } from './lead.js';
import { compile, type CompiledModel } from './scoring/compile.js';
import { LeadDraft } from './scoring/draft.js';
import { bounceTypeOf, decayCrossing } from './scoring/engagement.js';
import { isLeadActivity } from './scoring/effects.js';
import type { FitInput, FitResult } from './scoring/fit.js';
import type { ScoringModel } from './scoring/model.js';

/**
 * Stage rules (DESIGN §5): which stage a lead's events and scores earn, and when the requalification sweep should
 * look at it next. Pure functions over a scoring run's draft of the lead (only {@link moveStage} writes to it, the move
 * it records); the scoring run (scoring/apply.ts) and the sweep (requalification.ts) drive them.
 */

/** Disqualifications that scoring never lifts. Only a `purchase` (a fact, not a score) moves such a lead on. */
export const FINAL_DISQUALIFICATIONS: ReadonlySet<DisqualificationReason> = new Set([
  'invalid_contact',
  'complained',
  'unsubscribed',
  'competitor',
]);

/** The marketing funnel, in order; scores move a lead along it. */
export type FunnelStage = Extract<Stage, 'subscriber' | 'lead' | 'mql' | 'sql'>;
const FUNNEL_RANK: Record<FunnelStage, number> = { subscriber: 0, lead: 1, mql: 2, sql: 3 };
const PROMOTION_REASON: Record<FunnelStage, string> = {
  subscriber: 'subscribed',
  lead: 'became_lead',
  mql: 'mql_threshold_met',
  sql: 'sql_criteria_met',
};

/** A stage move the rules decided. */
export interface StageDecision {
  readonly to: Stage;
  readonly reason: string;
  /** e.g. `threshold:mql`, `event:email_bounced`, `fit:competitor-domain`, `decay:mql`, `lifecycle:dormant`. */
  readonly rule: string;
  readonly disqualification?: DisqualificationReason;
}

/** Everything a stage decision looks at, as of `atMs`. */
export interface StageContext {
  /** The lead being scored, with the event's effects (profile, suppression, …) already applied. */
  readonly lead: LeadDraft;
  readonly fit: FitResult;
  /** Engagement as of `atMs`. */
  readonly engagement: number;
  /** When the last high-intent action happened (epoch ms). */
  readonly lastHighIntentMs: number | undefined;
  readonly atMs: number;
  /** The event being applied; undefined for re-checks driven by time or by a model change. */
  readonly event?: LeadEvent;
  readonly model: CompiledModel;
}

/** True when the lead is disqualified for a reason that scoring never lifts. */
export function isFinallyDisqualified(lead: Pick<Lead, 'stage' | 'disqualification'>): boolean {
  return (
    lead.stage === 'disqualified' &&
    lead.disqualification !== undefined &&
    FINAL_DISQUALIFICATIONS.has(lead.disqualification)
  );
}

/**
 * The stage move an event (or a re-check) earns, if any. In order: customers never move; a purchase makes a
 * customer; final disqualifications hold; opportunities move only on a sales verdict; then the event's own rule
 * (sales verdicts, unsubscribe, complaint, bounce); then fit disqualification; then the stage's own rule.
 */
export function decideStage(ctx: StageContext): StageDecision | undefined {
  const { lead, event } = ctx;
  if (lead.stage === 'customer') return undefined;
  if (event?.type === 'purchase') return { to: 'customer', reason: 'purchase', rule: 'event:purchase' };
  if (isFinallyDisqualified(lead)) return undefined;
  if (lead.stage === 'opportunity') return event?.type === 'sales_rejected' ? salesRejection(event) : undefined;
  const byEvent = event && eventDecision(ctx, event);
  if (byEvent) return byEvent;
  const byFit = fitDisqualification(ctx);
  if (byFit && lead.stage === 'disqualified') return byFit.disqualification === 'competitor' ? byFit : undefined;
  if (byFit && lead.stage !== 'sql') return byFit;
  return stageRule(ctx);
}

/** The highest funnel stage the lead's scores earn as of `ctx.atMs`. */
export function earnedStage(ctx: StageContext): FunnelStage {
  const { lead, fit, engagement, model: m } = ctx;
  const { mql } = m.model.thresholds;
  if (!hasLeadEvidence(lead)) return 'subscriber';
  if (isOnSalesHold(lead, m, ctx.atMs)) return 'lead';
  if (fit.score < mql.fit || engagement < mql.engagement) return 'lead';
  return meetsSql(ctx) ? 'sql' : 'mql';
}

/** More than a newsletter subscriber: did something beyond the newsletter, or told us more than an email. */
export function hasLeadEvidence(lead: LeadDraft): boolean {
  return lead.leadSinceMs !== undefined || lead.profileEvidence;
}

/** Whether a field that counts as lead evidence (`lifecycle.leadProfileFields`) is filled in. */
export function hasProfileEvidence(lead: FitInput, m: CompiledModel): boolean {
  for (const read of m.leadProfileReaders) if (read(lead) !== undefined) return true;
  return false;
}

/** After a sales rejection the lead stays a `lead` for the cool-off, whatever its scores. */
export function isOnSalesHold(lead: LeadDraft, m: CompiledModel, atMs: number): boolean {
  return lead.stage === 'lead' && lead.stageReason === 'sales_rejected' && atMs < lead.stageChangedAtMs + m.coolOffMs;
}

function meetsSql(ctx: StageContext): boolean {
  const { sql } = ctx.model.model.thresholds;
  const highIntent =
    ctx.lastHighIntentMs !== undefined && ctx.lastHighIntentMs >= ctx.atMs - ctx.model.highIntentWindowMs;
  return (
    highIntent &&
    ctx.fit.bantEvidence >= sql.minBantAnswers &&
    ctx.fit.score >= (sql.minFit ?? -Infinity) &&
    ctx.engagement >= (sql.minEngagement ?? -Infinity)
  );
}

function eventDecision(ctx: StageContext, event: LeadEvent): StageDecision | undefined {
  const rule = `event:${event.type}`;
  switch (event.type) {
    case 'opportunity_created':
      return { to: 'opportunity', reason: 'opportunity_created', rule };
    case 'sales_accepted':
      return ctx.lead.stage === 'sql' ? undefined : { to: 'sql', reason: 'sales_accepted', rule };
    case 'sales_rejected':
      return salesRejection(event);
    case 'email_unsubscribed':
      return disqualify('unsubscribed', rule);
    case 'email_complained':
      return disqualify('complained', rule);
    case 'email_bounced':
      if (bounceTypeOf(event.properties) === 'permanent') return disqualify('invalid_contact', rule);
      return ctx.lead.suppression.transientBounces >= ctx.model.model.lifecycle.maxTransientBounces
        ? disqualify('invalid_contact', 'lifecycle:transient_bounces')
        : undefined;
    case 'form_submitted':
    case 'newsletter_signup':
    case 'content_download':
    case 'webinar_registered':
    case 'webinar_attended':
    case 'demo_requested':
    case 'discovery_call_booked':
    case 'discovery_call_attended':
    case 'page_viewed':
    case 'pricing_page_viewed':
    case 'chatbot_interaction':
    case 'trial_started':
    case 'product_used':
    case 'purchase':
    case 'email_sent':
    case 'touch_held_out':
    case 'email_delivered':
    case 'email_opened':
    case 'email_clicked':
    case 'email_rejected':
    case 'email_delivery_delayed':
    case 'email_rendering_failed':
    case 'consent_confirmed':
      return undefined;
    default:
      return assertNever(event.type);
  }
}

/** Sales sends the lead back to nurture (`lead`, held for the cool-off), or disqualifies it when it says so. */
function salesRejection(event: LeadEvent): StageDecision {
  return event.properties.disqualify === true
    ? disqualify('sales_rejected', 'event:sales_rejected')
    : { to: 'lead', reason: 'sales_rejected', rule: 'event:sales_rejected' };
}

function fitDisqualification({ fit, model }: StageContext): StageDecision | undefined {
  if (fit.disqualifiedBy) return disqualify(fit.disqualifiedBy.reason, `fit:${fit.disqualifiedBy.ruleId}`);
  const { notAFit } = model.model.thresholds;
  return fit.knownFields >= notAFit.minKnownFields && fit.score < notAFit.fitBelow
    ? disqualify('not_a_fit', 'threshold:not_a_fit')
    : undefined;
}

function stageRule(ctx: StageContext): StageDecision | undefined {
  const stage = ctx.lead.stage;
  switch (stage) {
    case 'subscriber':
    case 'lead':
    case 'mql':
    case 'sql':
      return funnelMove(ctx, stage);
    case 'dormant':
      return revival(ctx);
    case 'disqualified':
      return requalification(ctx);
    case 'opportunity':
    case 'customer':
      return undefined;
    default:
      return assertNever(stage);
  }
}

/** Up the funnel as far as the scores earn; an MQL that no longer earns it goes back to `lead`; SQLs wait for sales. */
function funnelMove(ctx: StageContext, stage: FunnelStage): StageDecision | undefined {
  const earned = earnedStage(ctx);
  if (FUNNEL_RANK[earned] > FUNNEL_RANK[stage]) {
    return { to: earned, reason: PROMOTION_REASON[earned], rule: `threshold:${earned}` };
  }
  if (stage === 'mql' && FUNNEL_RANK[earned] < FUNNEL_RANK.mql) {
    return { to: 'lead', reason: ctx.event ? 'score_dropped' : 'score_decayed', rule: 'threshold:mql' };
  }
  return undefined;
}

/** A dormant lead that acts again comes back at the stage its scores earn. */
function revival(ctx: StageContext): StageDecision | undefined {
  if (!ctx.event || !isLeadActivity(ctx.event)) return undefined;
  return { to: earnedStage(ctx), reason: 'revived', rule: `event:${ctx.event.type}` };
}

/**
 * A revivable disqualification is re-evaluated from the scores once its cool-off is over, or as soon as its cause
 * is gone: a `not_a_fit` lead whose fit no longer disqualifies (this runs only then), an `unresponsive` lead that
 * acts. A `sales_rejected` one waits out the cool-off: sales' verdict stands that long.
 */
function requalification(ctx: StageContext): StageDecision | undefined {
  const { lead, event, model: m } = ctx;
  // A sunset lead is not brought back by time: only acting again revives it (DESIGN §7).
  const coolOffOver = ctx.atMs >= lead.stageChangedAtMs + m.coolOffMs && !isSunsetDraft(lead);
  const rule = coolOffOver
    ? 'lifecycle:cool_off'
    : lead.disqualification === 'not_a_fit'
      ? 'threshold:not_a_fit'
      : lead.disqualification === 'unresponsive' && event && isLeadActivity(event)
        ? `event:${event.type}`
        : undefined;
  return rule === undefined ? undefined : { to: earnedStage(ctx), reason: 'requalified', rule };
}

function disqualify(reason: DisqualificationReason, rule: string): StageDecision {
  return { to: 'disqualified', reason, rule, disqualification: reason };
}

/** Applies a decision to the lead's stage fields, stamped `at`; returns the transition that records it. */
export function moveStage(lead: LeadDraft, decision: StageDecision, at: string, eventId?: string): StageTransition {
  const transition: StageTransition = {
    from: lead.stage,
    to: decision.to,
    reason: decision.reason,
    rule: decision.rule,
    at,
    ...(decision.disqualification && { disqualification: decision.disqualification }),
    ...(eventId !== undefined && { eventId }),
  };
  const disqualification = decision.to === 'disqualified' ? decision.disqualification : undefined;
  lead.moveTo(decision.to, decision.reason, disqualification, at);
  return transition;
}

/** What the time-driven checks need to know about a lead between events. */
export interface TimedState {
  readonly lead: LeadDraft;
  /** Engagement `value` held at `valueAtMs`. */
  readonly value: number;
  readonly valueAtMs: number;
  readonly model: CompiledModel;
}

/** A stage check that time alone triggers, and when. */
export interface TimedCheck {
  readonly kind: 'decay' | 'cool_off' | 'dormancy';
  readonly atMs: number;
}

/**
 * The earliest time-driven check due by `untilMs`: an MQL's engagement decaying below the threshold (an exact
 * instant), the end of a cool-off (sales hold or revivable disqualification) after `afterMs`, and, for the sweep
 * only, dormancy. Checks are keyed on instants computed from the lead, never on when they are noticed, so a
 * replay or a different batching records identical transitions. On a tie the first in that order wins.
 */
export function nextTimedCheck(
  state: TimedState,
  afterMs: number,
  untilMs: number,
  withDormancy: boolean,
): TimedCheck | undefined {
  const { lead, model: m } = state;
  let kind: TimedCheck['kind'] | undefined;
  let atMs = untilMs;
  if (lead.stage === 'mql') {
    const crossing = decayCrossing(state.value, state.valueAtMs, m.model.thresholds.mql.engagement, m.halfLifeMs);
    const decayMs = crossing === undefined ? NaN : Math.max(crossing, afterMs);
    if (decayMs <= atMs) [kind, atMs] = ['decay', decayMs];
  }
  if (isCoolingOff(lead)) {
    const endMs = lead.stageChangedAtMs + m.coolOffMs;
    if (endMs > afterMs && (kind === undefined ? endMs <= atMs : endMs < atMs)) [kind, atMs] = ['cool_off', endMs];
  }
  if (withDormancy && isFunnelStage(lead.stage)) {
    const dormantMs = dormancyAt(lead, m);
    if (kind === undefined ? dormantMs <= atMs : dormantMs < atMs) [kind, atMs] = ['dormancy', dormantMs];
  }
  return kind === undefined ? undefined : { kind, atMs };
}

/** The decision of a decay or dormancy check (a cool-off check re-runs {@link decideStage} instead). */
export const DECAYED: StageDecision = { to: 'lead', reason: 'score_decayed', rule: 'decay:mql' };
export const SILENT: StageDecision = { to: 'dormant', reason: 'silent', rule: 'lifecycle:dormant' };

/** The engagement a lead's scores hold, and when (epoch ms): where decay starts from. */
export interface HeldEngagement {
  readonly engagement: number;
  readonly scoredAtMs: number;
}

/**
 * When the requalification sweep should next look at the lead (DESIGN §7), or undefined if it never needs to:
 * funnel leads at dormancy (`dormantAfterDays` after the later of last activity and last stage change), MQLs also when decay takes them below the
 * threshold, sales-held leads at the end of the hold, revivable disqualifications at the next cool-off boundary
 * after `nowMs`; never for customers, opportunities (sales owns them), dormant leads (only activity revives them)
 * and final disqualifications.
 */
export function nextReviewAt(
  lead: LeadDraft,
  scores: HeldEngagement | undefined,
  m: CompiledModel,
  nowMs: number,
): string | undefined {
  const changedMs = lead.stageChangedAtMs;
  const stage = lead.stage;
  switch (stage) {
    case 'customer':
    case 'opportunity':
    case 'dormant':
      return undefined;
    case 'disqualified': {
      if (isFinallyDisqualified(lead) || isSunsetDraft(lead)) return undefined;
      const periods = Math.max(1, Math.floor((nowMs - changedMs) / m.coolOffMs) + 1);
      return formatInstant(changedMs + periods * m.coolOffMs);
    }
    case 'subscriber':
    case 'lead':
    case 'mql':
    case 'sql': {
      let reviewMs = dormancyAt(lead, m);
      if (isCoolingOff(lead) && changedMs + m.coolOffMs > nowMs) reviewMs = Math.min(reviewMs, changedMs + m.coolOffMs);
      const crossing =
        stage === 'mql' && scores
          ? decayCrossing(scores.engagement, scores.scoredAtMs, m.model.thresholds.mql.engagement, m.halfLifeMs)
          : undefined;
      if (crossing !== undefined) reviewMs = Math.min(reviewMs, crossing);
      return formatInstant(reviewMs);
    }
    default:
      return assertNever(stage);
  }
}

/**
 * Marks a lead whose nurture track ran out without any engagement as `unresponsive` (a revivable
 * disqualification, re-checked after the cool-off or as soon as the lead acts). Only funnel leads before sales.
 */
export function markUnresponsive(
  lead: Lead,
  model: ScoringModel,
  now: Date,
): { lead: Lead; transitions: StageTransition[] } {
  if (lead.stage !== 'subscriber' && lead.stage !== 'lead' && lead.stage !== 'mql') return { lead, transitions: [] };
  const draft = new LeadDraft(lead);
  const transition = moveStage(draft, disqualify('unresponsive', 'lifecycle:unresponsive'), now.toISOString());
  const held = lead.scores && { engagement: lead.scores.engagement, scoredAtMs: parseInstant(lead.scores.scoredAt) };
  const reviewAt = nextReviewAt(draft, held, compile(model), now.getTime());
  return { lead: draft.toLead(undefined, reviewAt), transitions: [transition] };
}

/**
 * A funnel lead goes dormant `dormantAfterDays` after its last activity, or after its last stage change if that
 * came later: a lead just recycled or requalified gets a full period to act before it is called silent.
 */
function dormancyAt(lead: LeadDraft, m: CompiledModel): number {
  return Math.max(lead.lastActivityAtMs, lead.stageChangedAtMs) + m.dormantMs;
}

/** Sales-held leads and revivable disqualifications wait out a cool-off from their last stage change. */
function isCoolingOff(lead: LeadDraft): boolean {
  return (
    (lead.stage === 'lead' && lead.stageReason === 'sales_rejected') ||
    (lead.stage === 'disqualified' && !isFinallyDisqualified(lead) && !isSunsetDraft(lead))
  );
}

/** True while the lead still has the stage `newLead` gave it: no transition has been recorded yet. */
export function isAsCreated(lead: LeadDraft): boolean {
  return lead.stageReason === 'created' && lead.stageChangedAt === lead.before.createdAt;
}

export function isFunnelStage(stage: Stage): stage is FunnelStage {
  return stage in FUNNEL_RANK;
}

/** `isSunset` on the run's draft: its cycles ran out (as the nurture recorded) and it has not engaged since. */
function isSunsetDraft(lead: LeadDraft): boolean {
  const at = lead.before.sunset?.sunsetAt;
  if (at === undefined) return false;
  return lead.lastEngagedAtMs === undefined || lead.lastEngagedAtMs <= parseInstant(at);
}
