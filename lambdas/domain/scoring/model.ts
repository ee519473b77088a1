import * as z from 'zod';
import { EVENT_TYPES } from '../events.js';
import { BANT_FIELDS, PROFILE_FIELDS } from '../lead.js';

/**
 * The scoring model as data (DESIGN §5): fit rules, engagement rules, thresholds and lifecycle timings. Every knob
 * is documented in docs/scoring-model.md. Objects are strict, so a misspelled knob fails validation instead of
 * being silently ignored.
 */

/** The lead fields a fit rule can look at: profile, BANT answers and the email address. */
export const FIT_FIELDS = ['email', ...PROFILE_FIELDS, ...BANT_FIELDS] as const;
export const FitField = z.enum(FIT_FIELDS, { error: (iss) => `unknown field ${JSON.stringify(iss.input)}` });
export type FitField = z.infer<typeof FitField>;

const RuleId = z
  .string({ error: 'must be a string' })
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 lower-case letters, digits, ".", "_" or "-"');

/** A regular expression source, matched case-insensitively. */
const Pattern = z.string({ error: 'must be a string' }).min(1, 'must not be empty').refine(isValidPattern, {
  error: 'invalid regular expression',
});

const Points = z.number({ error: 'must be a number' }).finite();
const PositiveDays = z.number({ error: 'must be a number' }).positive('must be positive').finite();

const fitRuleBase = {
  id: RuleId,
  /** Shown in the score's explanation. */
  label: z.string().min(1),
  points: Points,
  /** Within a group only the first matching rule (in model order) counts. */
  group: z.string().min(1).optional(),
  /** A match disqualifies the lead with this reason. */
  disqualify: z.enum(['competitor', 'not_a_fit']).optional(),
};

export const FitRule = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ ...fitRuleBase, op: z.literal('equals'), field: FitField, value: z.string() }),
    z.strictObject({ ...fitRuleBase, op: z.literal('oneOf'), field: FitField, values: z.array(z.string()).min(1) }),
    z.strictObject({ ...fitRuleBase, op: z.literal('pattern'), field: FitField, pattern: Pattern }),
    z.strictObject({
      ...fitRuleBase,
      op: z.literal('range'),
      field: FitField,
      min: z.number().finite().optional(),
      max: z.number().finite().optional(),
    }),
    z.strictObject({
      ...fitRuleBase,
      op: z.literal('emailDomainIn'),
      domains: z.array(z.string().min(1).toLowerCase()).min(1),
    }),
    z.strictObject({ ...fitRuleBase, op: z.literal('present'), field: FitField }),
  ],
  { error: 'op must be one of equals, oneOf, pattern, range, emailDomainIn, present' },
);
export type FitRule = z.infer<typeof FitRule>;

export const Intent = z.enum(['low', 'high']);
export type Intent = z.infer<typeof Intent>;

export const EngagementRule = z.strictObject({
  id: RuleId,
  label: z.string().min(1),
  event: z.enum(EVENT_TYPES, { error: (iss) => `unknown event type ${JSON.stringify(iss.input)}` }),
  points: Points,
  intent: Intent.default('low'),
  /** Optional filters on the event's properties; all given filters must match. */
  where: z
    .strictObject({
      formId: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
      url: Pattern.optional(),
      link: Pattern.optional(),
      bounceType: z.enum(['permanent', 'transient']).optional(),
    })
    .optional(),
  /** At most `points` (in absolute value) from this rule per fixed window of `periodDays`. */
  cap: z.strictObject({ points: z.number().positive('must be positive'), periodDays: PositiveDays }).optional(),
});
export type EngagementRule = z.infer<typeof EngagementRule>;

const EventTypeList = z.array(
  z.enum(EVENT_TYPES, { error: (iss) => `unknown event type ${JSON.stringify(iss.input)}` }),
);

const ScoringModelShape = z.strictObject({
  fit: z.strictObject({
    rules: z.array(FitRule),
    /** Lowest fit score for each grade; below `E` is `F`. */
    grades: z.strictObject({ A: Points, B: Points, C: Points, D: Points, E: Points }),
  }),
  engagement: z.strictObject({
    halfLifeDays: PositiveDays,
    /** Points for events flagged `properties.machine === true` instead of the rule's points. */
    machinePoints: Points.default(0),
    /** How many engagement contributions the explanation keeps (the most significant ones). */
    maxContributions: z.number().int().positive().default(50),
    rules: z.array(EngagementRule),
  }),
  thresholds: z.strictObject({
    mql: z.strictObject({ fit: Points, engagement: z.number().positive('must be positive') }),
    sql: z.strictObject({
      requiresHighIntent: z.literal(true, { error: 'must be true: an SQL needs a high-intent action (DESIGN §5)' }),
      highIntentWithinDays: PositiveDays,
      minBantAnswers: z.number().int().min(0).max(BANT_FIELDS.length),
      minFit: Points.optional(),
      minEngagement: Points.optional(),
    }),
    notAFit: z.strictObject({ fitBelow: Points, minKnownFields: z.number().int().min(1) }),
  }),
  lifecycle: z.strictObject({
    dormantAfterDays: PositiveDays,
    coolOffDays: PositiveDays,
    maxTransientBounces: z.number().int().positive(),
    subscriberEvents: EventTypeList,
    leadProfileFields: z.array(FitField),
  }),
});

/** A validated scoring model (schema and type share the name). Prefer {@link parseModel}, whose errors name the rule. */
export const ScoringModel = ScoringModelShape.superRefine((model, ctx) => {
  for (const issue of crossReferenceIssues(model)) ctx.addIssue({ code: 'custom', ...issue });
});
export type ScoringModel = z.infer<typeof ScoringModel>;
/** What a model file contains: defaults not yet applied. */
export type ScoringModelInput = z.input<typeof ScoringModel>;

/** A model that failed validation. `issues` lists every problem, each naming the rule and field. */
export class ScoringModelError extends Error {
  override readonly name = 'ScoringModelError';
  constructor(readonly issues: string[]) {
    super(`scoring model: ${issues.join('; ')}`);
  }
}

/**
 * Validates a scoring model, cross-references included (duplicate rule ids, event types, regular expressions,
 * threshold ordering, grade bands).
 * @throws ScoringModelError e.g. `scoring model: fit rule "senior-title" field "pattern": invalid regular expression`
 */
export function parseModel(input: unknown): ScoringModel {
  const result = ScoringModel.safeParse(input);
  if (result.success) return result.data;
  throw new ScoringModelError(result.error.issues.map((issue) => describeIssue(input, issue.path, issue.message)));
}

interface CrossIssue {
  path: (string | number)[];
  message: string;
}

function crossReferenceIssues(model: z.infer<typeof ScoringModelShape>): CrossIssue[] {
  return [
    ...duplicateIdIssues(model),
    ...fitRuleIssues(model.fit.rules),
    ...engagementRuleIssues(model.engagement.rules),
    ...gradeIssues(model.fit.grades),
    ...thresholdIssues(model.thresholds),
    ...model.lifecycle.leadProfileFields.flatMap((field, i): CrossIssue[] =>
      field === 'email'
        ? [{ path: ['lifecycle', 'leadProfileFields', i], message: 'every lead has an email: list other fields' }]
        : [],
    ),
  ];
}

function duplicateIdIssues(model: z.infer<typeof ScoringModelShape>): CrossIssue[] {
  const seen = new Set<string>();
  const issues: CrossIssue[] = [];
  const check = (kind: 'fit' | 'engagement', id: string, index: number): void => {
    if (seen.has(id)) issues.push({ path: [kind, 'rules', index, 'id'], message: `duplicate rule id "${id}"` });
    seen.add(id);
  };
  model.fit.rules.forEach((rule, i) => check('fit', rule.id, i));
  model.engagement.rules.forEach((rule, i) => check('engagement', rule.id, i));
  return issues;
}

function fitRuleIssues(rules: FitRule[]): CrossIssue[] {
  const issues: CrossIssue[] = [];
  rules.forEach((rule, i) => {
    if (rule.op === 'range' && rule.min === undefined && rule.max === undefined) {
      issues.push({ path: ['fit', 'rules', i, 'min'], message: 'a range needs min, max or both' });
    }
    if (rule.op === 'range' && rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
      issues.push({ path: ['fit', 'rules', i, 'max'], message: `must be at least min (${rule.min})` });
    }
    if (rule.disqualify && rule.points > 0) {
      issues.push({ path: ['fit', 'rules', i, 'points'], message: 'a disqualifying rule cannot add points' });
    }
  });
  return issues;
}

function engagementRuleIssues(rules: EngagementRule[]): CrossIssue[] {
  const issues: CrossIssue[] = [];
  rules.forEach((rule, i) => {
    if (rule.where?.bounceType && rule.event !== 'email_bounced') {
      issues.push({
        path: ['engagement', 'rules', i, 'where', 'bounceType'],
        message: 'only applies to email_bounced',
      });
    }
    if (rule.intent === 'high' && rule.points <= 0) {
      issues.push({ path: ['engagement', 'rules', i, 'points'], message: 'a high-intent rule must add points' });
    }
  });
  return issues;
}

function gradeIssues(grades: Record<'A' | 'B' | 'C' | 'D' | 'E', number>): CrossIssue[] {
  const order = ['A', 'B', 'C', 'D', 'E'] as const;
  const issues: CrossIssue[] = [];
  for (let i = 1; i < order.length; i++) {
    const higher = order[i - 1];
    const lower = order[i];
    if (higher === undefined || lower === undefined) continue;
    if (grades[lower] >= grades[higher]) {
      issues.push({ path: ['fit', 'grades', lower], message: `must be lower than ${higher} (${grades[higher]})` });
    }
  }
  return issues;
}

function thresholdIssues(t: z.infer<typeof ScoringModelShape>['thresholds']): CrossIssue[] {
  const issues: CrossIssue[] = [];
  if (t.notAFit.fitBelow > t.mql.fit) {
    issues.push({ path: ['thresholds', 'notAFit', 'fitBelow'], message: `must not exceed mql.fit (${t.mql.fit})` });
  }
  if (t.sql.minFit !== undefined && t.sql.minFit < t.mql.fit) {
    issues.push({ path: ['thresholds', 'sql', 'minFit'], message: `must be at least mql.fit (${t.mql.fit})` });
  }
  if (t.sql.minEngagement !== undefined && t.sql.minEngagement < t.mql.engagement) {
    issues.push({
      path: ['thresholds', 'sql', 'minEngagement'],
      message: `must be at least mql.engagement (${t.mql.engagement})`,
    });
  }
  return issues;
}

function isValidPattern(source: string): boolean {
  try {
    new RegExp(source, 'i');
    return true;
  } catch {
    return false;
  }
}

/** `fit rule "senior-title" field "pattern": invalid regular expression`, or `field "thresholds.mql.fit": …`. */
function describeIssue(input: unknown, path: PropertyKey[], message: string): string {
  const [section, list, index, ...rest] = path;
  if ((section === 'fit' || section === 'engagement') && list === 'rules' && typeof index === 'number') {
    const id = ruleIdAt(input, section, index) ?? `#${index}`;
    const field = rest.map(String).join('.');
    return `${section} rule "${id}"${field ? ` field "${field}"` : ''}: ${message}`;
  }
  return path.length ? `field "${path.map(String).join('.')}": ${message}` : message;
}

function ruleIdAt(input: unknown, section: 'fit' | 'engagement', index: number): string | undefined {
  const id = property(property(property(property(input, section), 'rules'), index), 'id');
  return typeof id === 'string' ? id : undefined;
}

function property(value: unknown, key: string | number): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<string | number, unknown>)[key];
}
