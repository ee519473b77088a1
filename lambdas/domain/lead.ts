import * as z from 'zod';

export const STAGES = [
  'subscriber',
  'lead',
  'mql',
  'sql',
  'opportunity',
  'customer',
  'dormant',
  'disqualified',
] as const;
export const Stage = z.enum(STAGES);
export type Stage = z.infer<typeof Stage>;

export const DISQUALIFICATION_REASONS = [
  'not_a_fit',
  'competitor',
  'invalid_contact',
  'complained',
  'unsubscribed',
  'unresponsive',
  'sales_rejected',
] as const;
export const DisqualificationReason = z.enum(DISQUALIFICATION_REASONS);
export type DisqualificationReason = z.infer<typeof DisqualificationReason>;

export const Grade = z.enum(['A', 'B', 'C', 'D', 'E', 'F']);
export type Grade = z.infer<typeof Grade>;

/** Who the person is. Every field optional: forms ask for different things. */
export const Profile = z.object({
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  company: z.string().optional(),
  jobTitle: z.string().optional(),
  companySize: z.string().optional(),
  industry: z.string().optional(),
  country: z.string().optional(),
  phone: z.string().optional(),
  timeZone: z.string().optional(),
});
export type Profile = z.infer<typeof Profile>;
export const PROFILE_FIELDS = Object.keys(Profile.shape) as (keyof Profile)[];

/** BANT answers as given on forms or by sales. */
export const Bant = z.object({
  budget: z.string().optional(),
  authority: z.string().optional(),
  need: z.string().optional(),
  timeline: z.string().optional(),
});
export type Bant = z.infer<typeof Bant>;
export const BANT_FIELDS = Object.keys(Bant.shape) as (keyof Bant)[];

export const Consent = z.object({
  marketing: z.boolean(),
  at: z.iso.datetime(),
  source: z.string(),
  ip: z.string().optional(),
  /**
   * Confirmed opt-in: `pending` until the person confirms from the confirmation mail (no marketing mail meanwhile),
   * then `confirmed`. Absent for consent that needs no confirmation (documented consent, a form switched off).
   */
  confirmation: z.enum(['pending', 'confirmed']).optional(),
  confirmedAt: z.iso.datetime().optional(),
});
export type Consent = z.infer<typeof Consent>;

export const Attribution = z.object({
  firstForm: z.string().optional(),
  lastForm: z.string().optional(),
  firstUtm: z.record(z.string(), z.string()).optional(),
  lastUtm: z.record(z.string(), z.string()).optional(),
});
export type Attribution = z.infer<typeof Attribution>;

/** One line of a score's explanation. */
export const Contribution = z.object({
  ruleId: z.string(),
  kind: z.enum(['fit', 'engagement']),
  label: z.string(),
  points: z.number(),
  intent: z.enum(['low', 'high']).optional(),
  /** When the action happened (engagement only). */
  at: z.iso.datetime().optional(),
  /** Engagement points left after decay, as of `Scores.scoredAt`. */
  decayedPoints: z.number().optional(),
  eventId: z.string().optional(),
});
export type Contribution = z.infer<typeof Contribution>;

export const Scores = z.object({
  fit: z.number(),
  /** Engagement as of `scoredAt`; decays lazily from there (see domain/scoring). */
  engagement: z.number(),
  total: z.number(),
  grade: Grade,
  contributions: z.array(Contribution),
  scoredAt: z.iso.datetime(),
  /** When the last high-intent action happened; SQL needs one. */
  lastHighIntentAt: z.iso.datetime().optional(),
  /** Points counted per capped rule in its current window: ruleId → { windowStart, points }. */
  caps: z.record(z.string(), z.object({ windowStart: z.iso.datetime(), points: z.number() })).default({}),
});
export type Scores = z.infer<typeof Scores>;

export const Suppression = z.object({
  unsubscribed: z.boolean().default(false),
  hardBounced: z.boolean().default(false),
  complained: z.boolean().default(false),
  transientBounces: z.number().int().default(0),
});
export type Suppression = z.infer<typeof Suppression>;

/** A lead's arm of a track's experiment (nurture/experiments.ts): `holdout` leads get none of the track's mail. */
export const Arm = z.enum(['treatment', 'holdout']);
export type Arm = z.infer<typeof Arm>;

export const NurtureState = z.object({
  track: z.string(),
  executionName: z.string(),
  /** The track's experiment when the run started, and the lead's arm of it (also in the run's input; never changes). */
  experimentId: z.string().optional(),
  arm: Arm.optional(),
  status: z.enum(['active', 'completed', 'stopped']),
  enrolledAt: z.iso.datetime(),
  touchesSent: z.number().int().default(0),
  lastTouchAt: z.iso.datetime().optional(),
  nextTouchAt: z.iso.datetime().optional(),
});
export type NurtureState = z.infer<typeof NurtureState>;

/**
 * The sunset policy's memory of a lead (DESIGN §7): the tracks it exhausted without engaging, how many unresponsive
 * cycles in a row it went through, and whether it is sunset (no marketing mail until it acts).
 */
export const SunsetState = z.object({
  /** Each track exhausted without engagement (the latest time per track) and the lead's fit score then. */
  exhausted: z.array(z.object({ track: z.string(), at: z.iso.datetime(), fit: z.number() })).default([]),
  /** Unresponsive cycles in a row: tracks exhausted with no engagement between them. */
  cycles: z.number().int().nonnegative().default(0),
  /** When the cycles ran out: from then on no track is chosen for the lead until it acts. */
  sunsetAt: z.iso.datetime().optional(),
});
export type SunsetState = z.infer<typeof SunsetState>;

/** A stage change, kept in the lead's history. */
export const StageTransition = z.object({
  from: Stage.nullable(),
  to: Stage,
  reason: z.string(),
  /** The rule that fired, e.g. `threshold:mql` or `event:email_bounced`. */
  rule: z.string(),
  at: z.iso.datetime(),
  disqualification: DisqualificationReason.optional(),
  /** The event that caused it, if any: with `at`, the deterministic identity of the transition. */
  eventId: z.string().optional(),
});
export type StageTransition = z.infer<typeof StageTransition>;

export const Lead = z.object({
  leadId: z.string(),
  email: z.string(),
  profile: Profile.default({}),
  bant: Bant.default({}),
  consent: Consent.optional(),
  attribution: Attribution.default({}),
  scores: Scores.optional(),
  stage: Stage,
  stageReason: z.string(),
  disqualification: DisqualificationReason.optional(),
  stageChangedAt: z.iso.datetime(),
  nurture: NurtureState.optional(),
  /** The sunset policy's record of unresponsive cycles (see SunsetState). */
  sunset: SunsetState.optional(),
  suppression: Suppression.default({ unsubscribed: false, hardBounced: false, complained: false, transientBounces: 0 }),
  createdAt: z.iso.datetime(),
  lastActivityAt: z.iso.datetime(),
  lastEngagedAt: z.iso.datetime().optional(),
  /**
   * What nurture needs from the applied part of the log, kept by scoring as it applies events, so a re-evaluation
   * reads no history: the latest engagement in nurture's sense (`isEngagement`: any human action, scored or not).
   * Absent on leads scored before it existed (their first scoring since fills it in from their log).
   */
  activity: z.object({ lastEngagementAt: z.iso.datetime().optional() }).optional(),
  /** When the person first did more than subscribe (a non-newsletter action, or profile beyond the email). */
  leadSince: z.iso.datetime().optional(),
  reviewAt: z.iso.datetime().optional(),
  /** Optimistic-lock version: every write of the lead increments it. */
  version: z.number().int().nonnegative(),
});
export type Lead = z.infer<typeof Lead>;

/** True while the lead is sunset: its unresponsive cycles ran out and it has not engaged since. */
export function isSunset(lead: Pick<Lead, 'sunset' | 'lastEngagedAt'>): boolean {
  const at = lead.sunset?.sunsetAt;
  if (at === undefined) return false;
  return lead.lastEngagedAt === undefined || Date.parse(lead.lastEngagedAt) <= Date.parse(at);
}

/** A brand-new lead, before any event is applied. */
export function newLead(leadId: string, email: string, at: Date): Lead {
  const iso = at.toISOString();
  return Lead.parse({
    leadId,
    email,
    stage: 'subscriber',
    stageReason: 'created',
    stageChangedAt: iso,
    createdAt: iso,
    lastActivityAt: iso,
    version: 0,
  });
}
