import { v5 as uuidv5 } from 'uuid';
import * as z from 'zod';
import { Contribution, DisqualificationReason, Grade, Stage, type Lead, type StageTransition } from './lead.js';

/**
 * The lifecycle events Leadloop publishes (DESIGN §5, docs/lead-events.md): every stage transition as
 * `LeadStageChanged`, and entering a hand-off stage as `LeadPromoted` with what sales needs. They are recorded in the
 * same commit as the transition (an outbox, see {@link leadEventsFor}) and published once from there, whoever caused
 * the transition — the stream, the sweep, sales feedback, a nurture run.
 */

/** `source` of every Leadloop lifecycle event on the bus. */
export const LEAD_EVENTS_SOURCE = 'leadloop';
export const LEAD_STAGE_CHANGED = 'LeadStageChanged';
export const LEAD_PROMOTED = 'LeadPromoted';
export type LeadEventType = typeof LEAD_STAGE_CHANGED | typeof LEAD_PROMOTED;

/** Stages whose entry hands the lead to sales. */
export const HANDOFF_STAGES: readonly Stage[] = ['sql'];

/** Namespace of the ids lifecycle events derive (uuid v5). Never change it: consumers dedupe on these ids. */
const LEAD_EVENTS_NAMESPACE = '9a3f6c1e-52d4-4b8e-8f21-6d0c7b3e9a45';

/** The id of a lead's promotion: stable for one entry into a hand-off stage, whoever records or reads it. */
export const promotionIdFor = (leadId: string, promotedAt: string): string =>
  uuidv5(`promotion#${leadId}#${promotedAt}`, LEAD_EVENTS_NAMESPACE);

/** The id of a stage change: stable for one transition. */
export const stageChangeIdFor = (leadId: string, t: Pick<StageTransition, 'at' | 'to'>): string =>
  uuidv5(`stage#${leadId}#${t.at}#${t.to}`, LEAD_EVENTS_NAMESPACE);

/** Who the lead is, in every lifecycle event. */
export const LeadSummary = z.object({
  leadId: z.string(),
  email: z.string(),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  company: z.string().optional(),
  jobTitle: z.string().optional(),
  industry: z.string().optional(),
  companySize: z.string().optional(),
  country: z.string().optional(),
  phone: z.string().optional(),
  stage: Stage,
  stageReason: z.string(),
});
export type LeadSummary = z.infer<typeof LeadSummary>;

export const ScoreSummary = z.object({
  grade: Grade,
  fit: z.number(),
  engagement: z.number(),
  total: z.number(),
  scoredAt: z.iso.datetime(),
});

/** The detail of a `LeadStageChanged` event. */
export const LeadStageChanged = z.object({
  eventId: z.string(),
  leadId: z.string(),
  from: Stage.nullable(),
  to: Stage,
  reason: z.string(),
  /** The rule that fired, e.g. `threshold:mql`, `event:email_bounced`, `sweep:silent`. */
  rule: z.string(),
  at: z.iso.datetime(),
  disqualification: DisqualificationReason.optional(),
  /** Back from `dormant` or `disqualified` into the funnel. */
  requalified: z.boolean(),
  lead: LeadSummary,
  score: ScoreSummary.nullable(),
});
export type LeadStageChanged = z.infer<typeof LeadStageChanged>;

/**
 * The detail of a `LeadPromoted` event: who the lead is, why it was promoted (the score and the contributions that
 * produced it, largest first, and the BANT answers), what triggered it, and the nurture run it was in, if any.
 * `promotionId` is stable for one promotion, so a consumer can drop a duplicate.
 */
export const LeadPromoted = z.object({
  promotionId: z.string(),
  promotedAt: z.iso.datetime(),
  lead: LeadSummary,
  score: ScoreSummary.extend({ explanation: z.array(Contribution) }).nullable(),
  bant: z.record(z.string(), z.string()),
  trigger: z.object({ rule: z.string(), reason: z.string(), eventId: z.string().optional() }),
  nurture: z.object({ track: z.string(), executionName: z.string(), touchesSent: z.number().int() }).nullable(),
});
export type LeadPromoted = z.infer<typeof LeadPromoted>;

/** One event to publish, as recorded in the outbox. */
export type OutboxRecord =
  | { eventId: string; type: typeof LEAD_STAGE_CHANGED; detail: LeadStageChanged }
  | { eventId: string; type: typeof LEAD_PROMOTED; detail: LeadPromoted };

/** At most this many contributions go to sales: the ones that moved the score most. */
const EXPLANATION_LIMIT = 20;

export function leadSummary(lead: Lead): LeadSummary {
  const p = lead.profile;
  return {
    leadId: lead.leadId,
    email: lead.email,
    firstName: p.firstName,
    lastName: p.lastName,
    company: p.company,
    jobTitle: p.jobTitle,
    industry: p.industry,
    companySize: p.companySize,
    country: p.country,
    phone: p.phone,
    stage: lead.stage,
    stageReason: lead.stageReason,
  };
}

const scoreSummary = (lead: Lead) =>
  lead.scores
    ? {
        grade: lead.scores.grade,
        fit: lead.scores.fit,
        engagement: lead.scores.engagement,
        total: lead.scores.total,
        scoredAt: lead.scores.scoredAt,
      }
    : null;

/** The promotion of a lead that entered a hand-off stage by `transition`. */
export function leadPromoted(lead: Lead, transition: StageTransition): LeadPromoted {
  const bant = Object.fromEntries(
    Object.entries(lead.bant).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
  const score = scoreSummary(lead);
  const n = lead.nurture;
  return {
    promotionId: promotionIdFor(lead.leadId, transition.at),
    promotedAt: transition.at,
    lead: leadSummary(lead),
    score:
      score && lead.scores
        ? {
            ...score,
            explanation: [...lead.scores.contributions]
              .sort((a, b) => Math.abs(b.decayedPoints ?? b.points) - Math.abs(a.decayedPoints ?? a.points))
              .slice(0, EXPLANATION_LIMIT),
          }
        : null,
    bant,
    trigger: {
      rule: transition.rule,
      reason: transition.reason,
      ...(transition.eventId !== undefined && { eventId: transition.eventId }),
    },
    nurture:
      n && n.status === 'active'
        ? { track: n.track, executionName: n.executionName, touchesSent: n.touchesSent }
        : null,
  };
}

const OUT_OF_FUNNEL: readonly Stage[] = ['dormant', 'disqualified'];

/**
 * What a commit of `lead` with `transitions` must publish: one `LeadStageChanged` per transition, and a `LeadPromoted`
 * for a transition into a hand-off stage. Pure and deterministic (ids derive from the lead and the transition), so a
 * retried commit records the same events.
 */
export function leadEventsFor(lead: Lead, transitions: readonly StageTransition[]): OutboxRecord[] {
  const out: OutboxRecord[] = [];
  for (const t of transitions) {
    const eventId = stageChangeIdFor(lead.leadId, t);
    out.push({
      eventId,
      type: LEAD_STAGE_CHANGED,
      detail: {
        eventId,
        leadId: lead.leadId,
        from: t.from,
        to: t.to,
        reason: t.reason,
        rule: t.rule,
        at: t.at,
        ...(t.disqualification !== undefined && { disqualification: t.disqualification }),
        requalified: t.from !== null && OUT_OF_FUNNEL.includes(t.from) && !OUT_OF_FUNNEL.includes(t.to),
        lead: leadSummary(lead),
        score: scoreSummary(lead),
      },
    });
    if (HANDOFF_STAGES.includes(t.to) && (t.from === null || !HANDOFF_STAGES.includes(t.from))) {
      const detail = leadPromoted(lead, t);
      out.push({ eventId: detail.promotionId, type: LEAD_PROMOTED, detail });
    }
  }
  return out;
}
