import { assertNever } from '../errors.js';
import { emailDomain } from '../identity.js';
import { BANT_FIELDS, type Bant, type Grade, type Lead } from '../lead.js';
import type { FitField, FitRule, ScoringModel } from './model.js';

/** What fit scoring reads of a lead. */
export type FitInput = Pick<Lead, 'email' | 'profile' | 'bant'>;

/** A fit rule ready to evaluate: its regular expression compiled once. */
export interface CompiledFitRule {
  readonly rule: FitRule;
  readonly field: FitField;
  readonly test: (value: string) => boolean;
}

/** The fit score of a lead and why. */
export interface FitResult {
  readonly score: number;
  readonly grade: Grade;
  /** The rules that matched, in model order (one per group at most). */
  readonly matches: readonly FitRule[];
  /** The first matching rule that disqualifies, competitor before not_a_fit. */
  readonly disqualifiedBy?: { readonly reason: 'competitor' | 'not_a_fit'; readonly ruleId: string };
  /** How many of the fields the fit rules look at (email aside) the lead has filled in. */
  readonly knownFields: number;
  /** BANT answers given that no negative rule matched ("no budget" is an answer, not evidence). */
  readonly bantEvidence: number;
}

/** Compiles one fit rule. Patterns are validated by the model schema. */
export function compileFitRule(rule: FitRule): CompiledFitRule {
  switch (rule.op) {
    case 'equals': {
      const expected = normalizeText(rule.value);
      return { rule, field: rule.field, test: (v) => normalizeText(v) === expected };
    }
    case 'oneOf': {
      const expected = new Set(rule.values.map(normalizeText));
      return { rule, field: rule.field, test: (v) => expected.has(normalizeText(v)) };
    }
    case 'pattern': {
      const re = new RegExp(rule.pattern, 'i');
      return { rule, field: rule.field, test: (v) => re.test(v) };
    }
    case 'range': {
      const { min = -Infinity, max = Infinity } = rule;
      return {
        rule,
        field: rule.field,
        test: (v) => {
          const n = readQuantity(v);
          return n !== undefined && n >= min && n <= max;
        },
      };
    }
    case 'emailDomainIn': {
      const domains = rule.domains;
      return { rule, field: 'email', test: (v) => domainIn(emailDomain(v.toLowerCase()), domains) };
    }
    case 'present':
      return { rule, field: rule.field, test: () => true };
    default:
      return assertNever(rule);
  }
}

/**
 * Scores who the lead is. Every rule whose field has a value and whose test passes adds its points, except that
 * within a `group` only the first match (in model order) counts.
 */
export function scoreFit(lead: FitInput, rules: readonly CompiledFitRule[], model: ScoringModel): FitResult {
  const matches: FitRule[] = [];
  const groupsTaken = new Set<string>();
  for (const { rule, field, test } of rules) {
    if (rule.group !== undefined && groupsTaken.has(rule.group)) continue;
    const value = fieldValue(lead, field);
    if (value === undefined || !test(value)) continue;
    matches.push(rule);
    if (rule.group !== undefined) groupsTaken.add(rule.group);
  }
  const score = matches.reduce((sum, rule) => sum + rule.points, 0);
  const disqualifying =
    matches.find((rule) => rule.disqualify === 'competitor') ?? matches.find((rule) => rule.disqualify === 'not_a_fit');
  return {
    score,
    grade: gradeFor(score, model.fit.grades),
    matches,
    ...(disqualifying?.disqualify && {
      disqualifiedBy: { reason: disqualifying.disqualify, ruleId: disqualifying.id },
    }),
    knownFields: countKnownFields(lead, rules),
    bantEvidence: countBantEvidence(lead, matches),
  };
}

/** The grade of a fit score: the first band (A down to E) whose minimum it reaches, else F. */
export function gradeFor(score: number, grades: ScoringModel['fit']['grades']): Grade {
  if (score >= grades.A) return 'A';
  if (score >= grades.B) return 'B';
  if (score >= grades.C) return 'C';
  if (score >= grades.D) return 'D';
  if (score >= grades.E) return 'E';
  return 'F';
}

/**
 * Reads a quantity such as a company size or a budget: the last number in the text, so a band like "51-200"
 * reads as its upper bound 200, "1000+" as 1000 and "10,000" as 10000; a `k`/`m` suffix multiplies
 * ("$50k" → 50000). Undefined when the text holds no number.
 */
export function readQuantity(text: string): number | undefined {
  const digits = text.replace(/(\d)[,_](?=\d{3}\b)/g, '$1');
  let last: number | undefined;
  for (const match of digits.matchAll(/(\d+(?:\.\d+)?)(?:\s*([km])(?![a-z]))?/gi)) {
    const [, number, suffix] = match;
    if (number === undefined) continue;
    const multiplier = suffix === undefined ? 1 : suffix.toLowerCase() === 'k' ? 1_000 : 1_000_000;
    last = Number(number) * multiplier;
  }
  return last;
}

/** The trimmed, non-empty value of a field, if the lead has one. */
export function fieldValue(lead: FitInput, field: FitField): string | undefined {
  const raw = field === 'email' ? lead.email : isBantField(field) ? lead.bant[field] : lead.profile[field];
  const value = raw?.trim();
  return value ? value : undefined;
}

function countKnownFields(lead: FitInput, rules: readonly CompiledFitRule[]): number {
  const fields = new Set<FitField>();
  for (const { field } of rules) if (field !== 'email' && fieldValue(lead, field) !== undefined) fields.add(field);
  return fields.size;
}

function countBantEvidence(lead: FitInput, matches: readonly FitRule[]): number {
  const negative = new Set(matches.filter((rule) => rule.points < 0 && 'field' in rule).map(ruleField));
  return BANT_FIELDS.filter((field) => fieldValue(lead, field) !== undefined && !negative.has(field)).length;
}

function ruleField(rule: FitRule): FitField {
  return rule.op === 'emailDomainIn' ? 'email' : rule.field;
}

const BANT_SET: ReadonlySet<string> = new Set(BANT_FIELDS);
function isBantField(field: Exclude<FitField, 'email'>): field is keyof Bant {
  return BANT_SET.has(field);
}

/** Exact domain or any subdomain of it: `eu.hubspot.com` is in `hubspot.com`. */
function domainIn(domain: string, domains: readonly string[]): boolean {
  return domains.some((d) => domain === d || domain.endsWith(`.${d}`));
}

function normalizeText(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}
