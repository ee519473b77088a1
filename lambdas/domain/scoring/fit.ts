import { assertNever } from '../errors.js';
import { emailDomain } from '../identity.js';
import { BANT_FIELDS, type Bant, type Grade, type Lead } from '../lead.js';
import type { FitField, FitRule, ScoringModel } from './model.js';

/** What fit scoring reads of a lead. */
export type FitInput = Pick<Lead, 'email' | 'profile' | 'bant'>;

/** A model's fit rules ready to evaluate: regular expressions compiled, fields and groups numbered. */
export interface CompiledFit {
  readonly rules: readonly CompiledFitRule[];
  /** The fields the rules read, each once, in model order: a lead's values are read once per scoring. */
  readonly fields: readonly FitField[];
  readonly readers: readonly FieldReader[];
  readonly grades: ScoringModel['fit']['grades'];
}

/** A fit rule ready to evaluate: its regular expression compiled once. */
export interface CompiledFitRule {
  readonly rule: FitRule;
  readonly field: FitField;
  readonly test: (value: string) => boolean;
  /** Where its field is in {@link CompiledFit.fields}. */
  readonly fieldIndex: number;
  /** The rule's group as a small number (-1: none), so matching tracks groups without strings. */
  readonly group: number;
}

/** Compiles a model's fit rules, in order. */
export function compileFit(fit: ScoringModel['fit']): CompiledFit {
  const groups = new Map<string, number>();
  const fields: FitField[] = [];
  const rules = fit.rules.map((rule): CompiledFitRule => {
    const compiled = compileFitRule(rule);
    let group = -1;
    if (rule.group !== undefined) {
      group = groups.get(rule.group) ?? groups.size;
      groups.set(rule.group, group);
    }
    if (!fields.includes(compiled.field)) fields.push(compiled.field);
    return { ...compiled, fieldIndex: fields.indexOf(compiled.field), group };
  });
  return { rules, fields, readers: fields.map(fieldReader), grades: fit.grades };
}

/** Reads one field of a lead: {@link fieldValue} with the field's place in the lead looked up once. */
export type FieldReader = (lead: FitInput) => string | undefined;

export function fieldReader(field: FitField): FieldReader {
  if (field === 'email') return (lead) => present(lead.email);
  if (isBantField(field)) return (lead) => present(lead.bant[field]);
  return (lead) => present(lead.profile[field]);
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
function compileFitRule(rule: FitRule): Pick<CompiledFitRule, 'rule' | 'field' | 'test'> {
  switch (rule.op) {
    case 'equals': {
      const expected = normalizeText(rule.value);
      return { rule, field: rule.field, test: (v) => normalizedText(v) === expected };
    }
    case 'oneOf': {
      const expected = new Set(rule.values.map(normalizeText));
      return { rule, field: rule.field, test: (v) => expected.has(normalizedText(v)) };
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
          const n = quantityOf(v);
          return n !== undefined && n >= min && n <= max;
        },
      };
    }
    case 'emailDomainIn': {
      const domains = new Set(rule.domains);
      return { rule, field: 'email', test: (v) => isInDomains(domainOf(v), domains) };
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
export function scoreFit(lead: FitInput, fit: CompiledFit): FitResult {
  const values: (string | undefined)[] = [];
  let knownFields = 0;
  for (let i = 0; i < fit.readers.length; i++) {
    const value = fit.readers[i]?.(lead);
    values.push(value);
    if (value !== undefined && fit.fields[i] !== 'email') knownFields++;
  }
  const matches: FitRule[] = [];
  const groupsTaken: number[] = [];
  let score = 0;
  let competitor: FitRule | undefined;
  let notAFit: FitRule | undefined;
  for (const { rule, test, fieldIndex, group } of fit.rules) {
    if (group >= 0 && groupsTaken.includes(group)) continue;
    const value = values[fieldIndex];
    if (value === undefined || !test(value)) continue;
    matches.push(rule);
    score += rule.points;
    if (group >= 0) groupsTaken.push(group);
    if (rule.disqualify === 'competitor') competitor ??= rule;
    if (rule.disqualify === 'not_a_fit') notAFit ??= rule;
  }
  const disqualifying = competitor ?? notAFit;
  const grade = gradeFor(score, fit.grades);
  const bantEvidence = countBantEvidence(lead, matches);
  const reason = disqualifying?.disqualify;
  return reason === undefined || disqualifying === undefined
    ? { score, grade, matches, knownFields, bantEvidence }
    : { score, grade, matches, disqualifiedBy: { reason, ruleId: disqualifying.id }, knownFields, bantEvidence };
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
  return present(field === 'email' ? lead.email : isBantField(field) ? lead.bant[field] : lead.profile[field]);
}

function present(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  return value ? value : undefined;
}

function countBantEvidence(lead: FitInput, matches: readonly FitRule[]): number {
  let evidence = 0;
  for (const field of BANT_FIELDS) if (present(lead.bant[field]) !== undefined) evidence++;
  // An answer a negative rule matched ("no budget") is not evidence; each field counts once.
  const negative: FitField[] = [];
  for (const rule of matches) {
    if (rule.points >= 0 || rule.op === 'emailDomainIn' || negative.includes(rule.field)) continue;
    negative.push(rule.field);
    if (isBantField(rule.field) && present(lead.bant[rule.field]) !== undefined) evidence--;
  }
  return evidence;
}

/** Exact domain or any subdomain of one: `eu.hubspot.com` is in `hubspot.com`. */
function isInDomains(domain: string, domains: ReadonlySet<string>): boolean {
  if (domains.has(domain)) return true;
  for (let dot = domain.indexOf('.'); dot >= 0; dot = domain.indexOf('.', dot + 1)) {
    if (domains.has(domain.slice(dot + 1))) return true;
  }
  return false;
}

const BANT_SET: ReadonlySet<string> = new Set(BANT_FIELDS);
function isBantField(field: FitField): field is keyof Bant {
  return BANT_SET.has(field);
}

function normalizeText(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * The last input and output of a pure function of text: the rules of one field (five company-size bands, two
 * free-mail and competitor lists) read the same value one after another, so each derived form is computed once.
 */
function lastOf<T>(f: (text: string) => T): (text: string) => T {
  let last: { text: string; value: T } | undefined;
  return (text) => {
    if (last?.text !== text) last = { text, value: f(text) };
    return last.value;
  };
}

const normalizedText = lastOf(normalizeText);
const quantityOf = lastOf(readQuantity);
const domainOf = lastOf((email) => emailDomain(email.toLowerCase()));
