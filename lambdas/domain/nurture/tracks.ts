import * as z from 'zod';
import { Grade, Stage } from '../lead.js';
import { ConfirmationPolicy, ReputationPolicy } from './sending.js';

/** A kebab-case identifier (track, template, industry variant): safe in SES template names and execution names. */
const Slug = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'must be kebab-case: lower-case letters and digits separated by "-"');

export const TrackId = Slug(30);
export type TrackId = z.infer<typeof TrackId>;

export const TemplateId = Slug(30);
export type TemplateId = z.infer<typeof TemplateId>;

/** An industry that has its own template variants. `default` is reserved for the fallback every touch has. */
export const IndustryId = Slug(24).refine((id) => id !== 'default', {
  error: '"default" is reserved for the fallback variant',
});
export type IndustryId = z.infer<typeof IndustryId>;

/** The variant every touch has: sent when the lead's industry has none of its own. */
export const DEFAULT_VARIANT = 'default';

export const Industry = z.object({
  id: IndustryId,
  /** How people read it ("Real estate"). */
  label: z.string().min(1),
  /** Lower-case words or phrases found in a lead's free-text industry field that mean this industry. */
  aliases: z.array(z.string().min(2)).min(1),
});
export type Industry = z.infer<typeof Industry>;

/** The id of an experiment (a holdout, content tests): changing it starts a new experiment; reports keep the old one. */
export const ExperimentId = Slug(40);
export type ExperimentId = z.infer<typeof ExperimentId>;

/**
 * One arm of a content test of a touch (an A/B test): the template it sends and its weight. The variant a lead gets
 * is chosen deterministically from the lead, the touch and the track's experiment id (experiments.ts).
 */
export const ContentVariant = z.object({
  /** Short name, sent as the `contentVariant` message tag and recorded on `email_sent` (e.g. `a`, `short-subject`). */
  id: Slug(20),
  template: TemplateId,
  /** Relative weight: a variant of weight 2 goes to twice as many leads as one of weight 1. */
  weight: z.number().int().min(1).max(100).default(1),
});
export type ContentVariant = z.infer<typeof ContentVariant>;

/** One email of a track, and the wait after it before the lead is re-evaluated. */
export const Touch = z.object({
  /** How a marketer calls it; names the states ("Send case study 1", "Wait 4 days after case study 1"). */
  name: z
    .string()
    .min(1)
    .max(24)
    .regex(/^[a-z0-9][a-z0-9 ]*$/, 'must be lower-case words, e.g. "case study 1"'),
  template: TemplateId,
  /** Industries with their own variant of the template (`default` always exists and is the fallback). */
  variants: z.array(IndustryId).default([]),
  /** Days to wait after this touch before re-evaluating the lead (whole days; Step Functions waits up to a year). */
  waitDays: z.number().int().min(1).max(60),
  /**
   * A content test: two or more templates sent in place of `template`, split by weight (each in the touch's industry
   * variants, like `template`). Needs the track's `experimentId`.
   */
  contentVariants: z.array(ContentVariant).min(2).max(5).optional(),
});
export type Touch = z.infer<typeof Touch>;

/** Who a track is for. Every given condition must hold. */
export const EntryCriteria = z.object({
  stages: z.array(Stage).min(1),
  grades: z.array(Grade).min(1).optional(),
  minTotal: z.number().optional(),
  minEngagement: z.number().optional(),
});
export type EntryCriteria = z.infer<typeof EntryCriteria>;

/** When a lead leaves a track before it is exhausted. */
export const ExitCriteria = z.object({
  /** Reaching one of these stages ends the track with a hand-off to sales (the lead was promoted). */
  handoffStages: z.array(Stage).min(1),
  /** Reaching one of these stages ends the track quietly. */
  stages: z.array(Stage),
});
export type ExitCriteria = z.infer<typeof ExitCriteria>;

export const Track = z.object({
  id: TrackId,
  description: z.string().min(1),
  entry: EntryCriteria,
  exit: ExitCriteria,
  touches: z.array(Touch).min(1).max(10),
  /**
   * Marks the plan's re-engagement track (the sunset policy, lambdas/domain/nurture/sunset.ts): it is never picked by
   * the entry criteria alone, only for a lead back from exhausting a track without engaging and without new
   * evidence, at most `maxCycles` unresponsive cycles in a row; after them the lead is sunset (no marketing mail
   * until it acts).
   */
  reengagement: z.object({ maxCycles: z.number().int().min(1).max(5).default(1) }).optional(),
  /**
   * Share of the track's leads held out (0–50): they run the same state machine, waits and re-evaluations, but each
   * touch takes the "Held out: no mail" branch, so the track's uplift can be measured (docs/experiments.md).
   * Needs `experimentId`.
   */
  holdoutPercent: z.number().min(0).max(50).default(0),
  /** The experiment the holdout and content tests belong to; assignment hashes it with the lead and the track. */
  experimentId: ExperimentId.optional(),
});
export type Track = z.infer<typeof Track>;

/** Mon = 1 … Sun = 7 (ISO weekday). */
export const IsoWeekday = z.number().int().min(1).max(7);

/** Rules every touch of every track obeys. */
export const SendPolicy = z.object({
  /** IANA zone for leads without a valid `profile.timeZone`. */
  defaultTimeZone: z.string().refine(isTimeZone, { error: 'is not an IANA time zone' }),
  /** When mail may go out, in the lead's local time: a touch outside the window waits for the next opening. */
  sendWindow: z
    .object({
      days: z.array(IsoWeekday).min(1),
      startHour: z.number().int().min(0).max(23),
      endHour: z.number().int().min(1).max(24),
    })
    .refine((w) => w.startHour < w.endHour, { error: 'startHour must be before endHour' }),
  /** At most `maxEmails` nurture emails per lead in any `perDays` days, across all tracks. */
  frequencyCap: z.object({ maxEmails: z.number().int().min(1), perDays: z.number().int().min(1) }),
  /** How long an unsubscribe link stays valid. */
  unsubscribeLinkDays: z.number().int().min(30),
  /** The reputation brake: marketing sending pauses when hard bounces or complaints near SES's review thresholds. */
  reputation: ReputationPolicy.prefault({}),
  /** Confirmed opt-in: how often the confirmation mail may go to one address, and how long its link is valid. */
  confirmation: ConfirmationPolicy.prefault({}),
});
export type SendPolicy = z.infer<typeof SendPolicy>;

/** The tracks file: policy, industries with variants, and the tracks in priority order (first match wins). */
export const NurturePlan = z
  .object({
    policy: SendPolicy,
    industries: z.array(Industry),
    tracks: z.array(Track).min(1),
  })
  .superRefine((plan, ctx) => {
    const seen = new Set<string>();
    plan.tracks.forEach((t, i) => {
      if (seen.has(t.id))
        ctx.addIssue({ code: 'custom', path: ['tracks', i, 'id'], message: `duplicate track "${t.id}"` });
      seen.add(t.id);
      const names = new Set<string>();
      t.touches.forEach((touch, j) => {
        if (names.has(touch.name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tracks', i, 'touches', j, 'name'],
            message: `duplicate touch "${touch.name}"`,
          });
        }
        names.add(touch.name);
        const variantIds = new Set<string>();
        touch.contentVariants?.forEach((cv, k) => {
          if (variantIds.has(cv.id)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tracks', i, 'touches', j, 'contentVariants', k, 'id'],
              message: `duplicate content variant "${cv.id}"`,
            });
          }
          variantIds.add(cv.id);
        });
        if (touch.contentVariants && !touch.contentVariants.some((cv) => cv.template === touch.template)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tracks', i, 'touches', j, 'contentVariants'],
            message: `one content variant must send the touch's own template "${touch.template}" (the control)`,
          });
        }
        if (touch.contentVariants && t.experimentId === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['tracks', i, 'touches', j, 'contentVariants'],
            message: 'a content test needs the track to name its experimentId',
          });
        }
        touch.variants.forEach((v, k) => {
          if (!plan.industries.some((ind) => ind.id === v)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tracks', i, 'touches', j, 'variants', k],
              message: `unknown industry "${v}" (declare it under industries)`,
            });
          }
        });
      });
      if (t.holdoutPercent > 0 && t.experimentId === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tracks', i, 'experimentId'],
          message: 'a holdout needs an experimentId (changing it later starts a new experiment)',
        });
      }
      if (t.holdoutPercent > 0 && t.reengagement !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tracks', i, 'holdoutPercent'],
          message: 'the re-engagement track cannot hold leads out (the sunset policy counts on its mail)',
        });
      }
      for (const s of t.entry.stages) {
        if (t.exit.stages.includes(s) || t.exit.handoffStages.includes(s)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tracks', i, 'entry', 'stages'],
            message: `stage "${s}" both enters and exits the track`,
          });
        }
      }
    });
    if (plan.tracks.filter((t) => t.reengagement !== undefined).length > 1) {
      ctx.addIssue({ code: 'custom', path: ['tracks'], message: 'at most one track may be the re-engagement track' });
    }
    const industryIds = new Set<string>();
    plan.industries.forEach((ind, i) => {
      if (industryIds.has(ind.id))
        ctx.addIssue({ code: 'custom', path: ['industries', i, 'id'], message: `duplicate industry "${ind.id}"` });
      industryIds.add(ind.id);
    });
  });
export type NurturePlan = z.infer<typeof NurturePlan>;

/** Thrown when a tracks file is invalid; the message names every offending path. */
export class InvalidNurturePlanError extends Error {
  override readonly name = 'InvalidNurturePlanError';
}

/** Validates a tracks file, failing with one line per problem (`tracks.1.touches.0.template: …`). */
export function parseNurturePlan(raw: unknown): NurturePlan {
  const result = NurturePlan.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${i.path.join('.') || '(plan)'}: ${i.message}`);
  throw new InvalidNurturePlanError(`invalid nurture tracks:\n  ${lines.join('\n  ')}`);
}

/** The track with this id; throws if the plan has none (a state machine and its plan disagree). */
export function trackById(plan: NurturePlan, id: string): Track {
  const track = plan.tracks.find((t) => t.id === id);
  if (!track) throw new InvalidNurturePlanError(`no nurture track "${id}"`);
  return track;
}

/** The 1-based touch of a track; throws when out of range. */
export function touchAt(track: Track, touch: number): Touch {
  const t = track.touches[touch - 1];
  if (!t) throw new InvalidNurturePlanError(`track "${track.id}" has no touch ${touch}`);
  return t;
}

/** True for a zone name the runtime's ICU knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
