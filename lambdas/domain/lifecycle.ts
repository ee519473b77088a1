import { assertNever } from './errors.js';
import type { LeadEvent } from './events.js';
import { isSunset, type DisqualificationReason, type Lead, type Stage, type StageTransition } from './lead.js';
import { compile, type CompiledModel } from './scoring/compile.js';
import { bounceTypeOf, decayCrossing } from './scoring/engagement.js';
import { isLeadActivity } from './scoring/effects.js';
import { fieldValue, type FitResult } from './scoring/fit.js';
import type { ScoringModel } from './scoring/model.js';

/**
 * Stage rules (DESIGN §5): which stage a lead's events and scores earn, and when the requalification sweep should
 * look at it next. Pure functions; the scoring run (scoring/apply.ts) and the sweep (requalification.ts) drive them.
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
  /** The lead with the event's effects (profile, suppression, …) already applied. */
  readonly lead: Lead;
  readonly fit: FitResult;
  /** Engagement as of `atMs`. */
  readonly engagement: number;
  readonly lastHighIntentAt: string | undefined;
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
  if (!hasLeadEvidence(lead, m)) return 'subscriber';
  if (isOnSalesHold(lead, m, ctx.atMs)) return 'lead';
  if (fit.score < mql.fit || engagement < mql.engagement) return 'lead';
  return meetsSql(ctx) ? 'sql' : 'mql';
}

/** More than a newsletter subscriber: did something beyond the newsletter, or told us more than an email. */
export function hasLeadEvidence(lead: Lead, m: CompiledModel): boolean {
  return lead.leadSince !== undefined || m.leadProfileFields.some((field) => fieldValue(lead, field) !== undefined);
}

/** After a sales rejection the lead stays a `lead` for the cool-off, whatever its scores. */
export function isOnSalesHold(lead: Lead, m: CompiledModel, atMs: number): boolean {
  return (
    lead.stage === 'lead' &&
    lead.stageReason === 'sales_rejected' &&
    atMs < Date.parse(lead.stageChangedAt) + m.coolOffMs
  );
}

function meetsSql(ctx: StageContext): boolean {
  const { sql } = ctx.model.model.thresholds;
  const highIntent =
    ctx.lastHighIntentAt !== undefined && Date.parse(ctx.lastHighIntentAt) >= ctx.atMs - ctx.model.highIntentWindowMs;
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
  const coolOffOver = ctx.atMs >= Date.parse(lead.stageChangedAt) + m.coolOffMs && !isSunset(lead);
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

/** Applies a decision: the new stage fields and the transition that records it. */
export function moveStage(
  lead: Lead,
  decision: StageDecision,
  at: string,
  eventId?: string,
): { lead: Lead; transition: StageTransition } {
  const transition: StageTransition = {
    from: lead.stage,
    to: decision.to,
    reason: decision.reason,
    rule: decision.rule,
    at,
    ...(decision.disqualification && { disqualification: decision.disqualification }),
    ...(eventId !== undefined && { eventId }),
  };
  return {
    lead: {
      ...withoutDisqualification(lead),
      stage: decision.to,
      stageReason: decision.reason,
      stageChangedAt: at,
      ...(decision.to === 'disqualified' &&
        decision.disqualification && { disqualification: decision.disqualification }),
    },
    transition,
  };
}

/** What the time-driven checks need to know about a lead between events. */
export interface TimedState {
  readonly lead: Lead;
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
 * replay or a different batching records identical transitions.
 */
export function nextTimedCheck(
  state: TimedState,
  afterMs: number,
  untilMs: number,
  withDormancy: boolean,
): TimedCheck | undefined {
  const { lead, model: m } = state;
  const changedMs = Date.parse(lead.stageChangedAt);
  const candidates: TimedCheck[] = [];
  if (lead.stage === 'mql') {
    const crossing = decayCrossing(state.value, state.valueAtMs, m.model.thresholds.mql.engagement, m.halfLifeMs);
    if (crossing !== undefined) candidates.push({ kind: 'decay', atMs: Math.max(crossing, afterMs) });
  }
  if (isCoolingOff(lead)) {
    const endMs = changedMs + m.coolOffMs;
    if (endMs > afterMs) candidates.push({ kind: 'cool_off', atMs: endMs });
  }
  if (withDormancy && isFunnelStage(lead.stage)) candidates.push({ kind: 'dormancy', atMs: dormancyAt(lead, m) });
  const due = candidates.filter((check) => check.atMs <= untilMs).sort((a, b) => a.atMs - b.atMs);
  return due[0];
}

/** The decision of a decay or dormancy check (a cool-off check re-runs {@link decideStage} instead). */
export const DECAYED: StageDecision = { to: 'lead', reason: 'score_decayed', rule: 'decay:mql' };
export const SILENT: StageDecision = { to: 'dormant', reason: 'silent', rule: 'lifecycle:dormant' };

/**
 * When the requalification sweep should next look at the lead (DESIGN §7), or undefined if it never needs to:
 * funnel leads at dormancy (`dormantAfterDays` after the later of last activity and last stage change), MQLs also when decay takes them below the
 * threshold, sales-held leads at the end of the hold, revivable disqualifications at the next cool-off boundary
 * after `nowMs`; never for customers, opportunities (sales owns them), dormant leads (only activity revives them)
 * and final disqualifications.
 */
export function nextReviewAt(lead: Lead, m: CompiledModel, nowMs: number): string | undefined {
  const changedMs = Date.parse(lead.stageChangedAt);
  const stage = lead.stage;
  switch (stage) {
    case 'customer':
    case 'opportunity':
    case 'dormant':
      return undefined;
    case 'disqualified': {
      if (isFinallyDisqualified(lead) || isSunset(lead)) return undefined;
      const periods = Math.max(1, Math.floor((nowMs - changedMs) / m.coolOffMs) + 1);
      return iso(changedMs + periods * m.coolOffMs);
    }
    case 'subscriber':
    case 'lead':
    case 'mql':
    case 'sql': {
      const times = [dormancyAt(lead, m)];
      if (isCoolingOff(lead) && changedMs + m.coolOffMs > nowMs) times.push(changedMs + m.coolOffMs);
      const crossing =
        stage === 'mql' && lead.scores
          ? decayCrossing(
              lead.scores.engagement,
              Date.parse(lead.scores.scoredAt),
              m.model.thresholds.mql.engagement,
              m.halfLifeMs,
            )
          : undefined;
      if (crossing !== undefined) times.push(crossing);
      return iso(Math.min(...times));
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
  const moved = moveStage(lead, disqualify('unresponsive', 'lifecycle:unresponsive'), now.toISOString());
  return { lead: withReviewAt(moved.lead, compile(model), now.getTime()), transitions: [moved.transition] };
}

/** The lead with `reviewAt` set by {@link nextReviewAt}, or removed when it needs no review. */
export function withReviewAt(lead: Lead, m: CompiledModel, nowMs: number): Lead {
  const reviewAt = nextReviewAt(lead, m, nowMs);
  const copy = { ...lead };
  if (reviewAt === undefined) delete copy.reviewAt;
  else copy.reviewAt = reviewAt;
  return copy;
}

function withoutDisqualification(lead: Lead): Lead {
  const copy = { ...lead };
  delete copy.disqualification;
  return copy;
}

/**
 * A funnel lead goes dormant `dormantAfterDays` after its last activity, or after its last stage change if that
 * came later: a lead just recycled or requalified gets a full period to act before it is called silent.
 */
function dormancyAt(lead: Lead, m: CompiledModel): number {
  return Math.max(Date.parse(lead.lastActivityAt), Date.parse(lead.stageChangedAt)) + m.dormantMs;
}

/** Sales-held leads and revivable disqualifications wait out a cool-off from their last stage change. */
function isCoolingOff(lead: Lead): boolean {
  return (
    (lead.stage === 'lead' && lead.stageReason === 'sales_rejected') ||
    (lead.stage === 'disqualified' && !isFinallyDisqualified(lead) && !isSunset(lead))
  );
}

/** True while the lead still has the stage `newLead` gave it: no transition has been recorded yet. */
export function isAsCreated(lead: Pick<Lead, 'stageReason' | 'stageChangedAt' | 'createdAt'>): boolean {
  return lead.stageReason === 'created' && lead.stageChangedAt === lead.createdAt;
}

export function isFunnelStage(stage: Stage): stage is FunnelStage {
  return stage in FUNNEL_RANK;
}

const iso = (ms: number): string => new Date(ms).toISOString();
