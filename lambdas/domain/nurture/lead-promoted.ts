import { z } from 'zod';
import { Contribution, Grade, Stage, type Lead } from '../lead.js';

/** Where EventBridge consumers find it: `source` and `detail-type` of the event. */
export const LEAD_PROMOTED_SOURCE = 'leadloop.nurture';
export const LEAD_PROMOTED_DETAIL_TYPE = 'LeadPromoted';

/**
 * The detail of a `LeadPromoted` event: who the lead is, why it was promoted (the score and the contributions that
 * produced it, largest first) and which nurture brought it there. `promotionId` is stable for one hand-off, so a
 * consumer can drop the duplicates that at-least-once delivery brings.
 */
export const LeadPromoted = z.object({
  promotionId: z.string(),
  promotedAt: z.iso.datetime(),
  lead: z.object({
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
  }),
  score: z
    .object({
      grade: Grade,
      fit: z.number(),
      engagement: z.number(),
      total: z.number(),
      scoredAt: z.iso.datetime(),
      explanation: z.array(Contribution),
    })
    .nullable(),
  bant: z.record(z.string(), z.string()),
  nurture: z.object({ track: z.string(), executionName: z.string(), touchesSent: z.number().int() }),
});
export type LeadPromoted = z.infer<typeof LeadPromoted>;

/** At most this many contributions go to sales: the ones that moved the score most. */
const EXPLANATION_LIMIT = 20;

/** The hand-off event of a promoted lead. */
export function leadPromoted(
  lead: Lead,
  ctx: { promotionId: string; at: Date; track: string; executionName: string; touchesSent: number },
): LeadPromoted {
  const p = lead.profile;
  const bant = Object.fromEntries(
    Object.entries(lead.bant).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
  return {
    promotionId: ctx.promotionId,
    promotedAt: ctx.at.toISOString(),
    lead: {
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
    },
    score: lead.scores
      ? {
          grade: lead.scores.grade,
          fit: lead.scores.fit,
          engagement: lead.scores.engagement,
          total: lead.scores.total,
          scoredAt: lead.scores.scoredAt,
          explanation: [...lead.scores.contributions]
            .sort((a, b) => Math.abs(b.decayedPoints ?? b.points) - Math.abs(a.decayedPoints ?? a.points))
            .slice(0, EXPLANATION_LIMIT),
        }
      : null,
    bant,
    nurture: { track: ctx.track, executionName: ctx.executionName, touchesSent: ctx.touchesSent },
  };
}
