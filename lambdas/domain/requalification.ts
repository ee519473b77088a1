import type { Lead, Stage, StageTransition } from './lead.js';
import { scoreLead } from './scoring/apply.js';
import type { ScoringModel } from './scoring/model.js';

/** A side effect the sweep performs after writing the lead: stop its nurture, or enroll it in its stage's track. */
export type RequalificationAction = 'stop_nurture' | 'enroll';

/** A requalified lead, its transitions (oldest first) and the side effects they call for. */
export interface RequalificationResult {
  lead: Lead;
  transitions: StageTransition[];
  actions: RequalificationAction[];
}

/** Stages that a nurture track works on; SQLs and beyond belong to sales. */
const NURTURED: ReadonlySet<Stage> = new Set(['subscriber', 'lead', 'mql']);
/** Stages in which no track may run. */
const NOT_NURTURED: ReadonlySet<Stage> = new Set(['dormant', 'disqualified']);

/**
 * The requalification rules (DESIGN §7), pure. Applies decay and every time-driven rule due by `now`, each at
 * its own instant: an MQL whose engagement decayed below the threshold goes back to `lead` (`score_decayed`); a
 * funnel lead silent for `dormantAfterDays` goes `dormant` (`silent`); `unresponsive`, `not_a_fit` and
 * `sales_rejected` leads are re-evaluated from their scores once the cool-off is over (a profile update may have
 * made them a fit); `invalid_contact`, `complained`, `unsubscribed` and `competitor` are never revived. Always
 * sets the next `reviewAt` (or removes it when the lead needs no more reviews).
 *
 * Actions: `stop_nurture` when the lead ends up dormant or disqualified and has moved there now or still has a
 * track running; `enroll` when it ends up in a nurtured stage (subscriber, lead, MQL) with no track running and no
 * run enrolled since its last stage change (recycled, requalified, or revived by activity since). Both are
 * idempotent downstream (execution names are keyed on lead, track and stage change).
 */
export function requalify(lead: Lead, model: ScoringModel, now: Date): RequalificationResult {
  const { lead: next, transitions } = scoreLead(lead, [], model, now, { dormancy: true });
  return { lead: next, transitions, actions: actionsFor(next, transitions) };
}

function actionsFor(lead: Lead, transitions: readonly StageTransition[]): RequalificationAction[] {
  const trackRunning = lead.nurture?.status === 'active';
  if (NOT_NURTURED.has(lead.stage)) return transitions.length > 0 || trackRunning ? ['stop_nurture'] : [];
  const enrolledForStage =
    lead.nurture !== undefined && Date.parse(lead.nurture.enrolledAt) >= Date.parse(lead.stageChangedAt);
  return NURTURED.has(lead.stage) && !trackRunning && !enrolledForStage ? ['enroll'] : [];
}
