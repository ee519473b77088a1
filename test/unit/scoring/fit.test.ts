import { describe, expect, it } from 'vitest';
import type { Bant, Profile } from '../../../lambdas/domain/lead.js';
import { compile } from '../../../lambdas/domain/scoring/compile.js';
import { scoreFit, type FitResult } from '../../../lambdas/domain/scoring/fit.js';
import {
  defaultModel,
  gradeFor,
  parseModel,
  readQuantity,
  type FitRule,
  type ScoringModel,
} from '../../../lambdas/domain/scoring/index.js';

/** The default model with its fit rules replaced. */
function withFitRules(rules: FitRule[]): ScoringModel {
  return parseModel({ ...defaultModel, fit: { ...defaultModel.fit, rules } });
}

function fitOf(who: { email?: string; profile?: Profile; bant?: Bant }, model: ScoringModel = defaultModel): FitResult {
  return scoreFit(
    { email: who.email ?? 'pat@acme.io', profile: who.profile ?? {}, bant: who.bant ?? {} },
    compile(model).fit,
  );
}

const ids = (fit: FitResult): string[] => fit.matches.map((rule) => rule.id);

describe('fit rule kinds', () => {
  it('equals: trimmed, case- and space-insensitive', () => {
    const model = withFitRules([
      { id: 'us', label: 'US', op: 'equals', field: 'country', value: 'United  States', points: 4 },
    ]);
    expect(fitOf({ profile: { country: ' united states ' } }, model).score).toBe(4);
    expect(fitOf({ profile: { country: 'United States of America' } }, model).score).toBe(0);
  });

  it('oneOf: any of the values', () => {
    const model = withFitRules([
      {
        id: 'dach',
        label: 'DACH',
        op: 'oneOf',
        field: 'country',
        values: ['Germany', 'Austria', 'Switzerland'],
        points: 6,
      },
    ]);
    expect(fitOf({ profile: { country: 'austria' } }, model).score).toBe(6);
    expect(fitOf({ profile: { country: 'France' } }, model).score).toBe(0);
  });

  it('pattern: case-insensitive regular expression', () => {
    const model = withFitRules([
      { id: 'vp', label: 'VP', op: 'pattern', field: 'jobTitle', pattern: '\\bvp\\b', points: 9 },
    ]);
    expect(fitOf({ profile: { jobTitle: 'Vp of Sales' } }, model).score).toBe(9);
    expect(fitOf({ profile: { jobTitle: 'MVP engineer' } }, model).score).toBe(0);
  });

  it('range: inclusive bounds on the number read from the text', () => {
    const model = withFitRules([
      { id: 'mid', label: 'Mid', op: 'range', field: 'companySize', min: 51, max: 200, points: 8 },
      { id: 'big', label: 'Big', op: 'range', field: 'budget', min: 50_000, points: 5 },
    ]);
    expect(fitOf({ profile: { companySize: '51-200' } }, model).score).toBe(8);
    expect(fitOf({ profile: { companySize: '51' } }, model).score).toBe(8);
    expect(fitOf({ profile: { companySize: '201' } }, model).score).toBe(0);
    expect(fitOf({ profile: { companySize: 'a few' } }, model).score).toBe(0);
    expect(fitOf({ bant: { budget: '$50k' } }, model).score).toBe(5);
  });

  it('emailDomainIn: the domain or any subdomain, case-insensitive', () => {
    const model = withFitRules([
      { id: 'free', label: 'Free', op: 'emailDomainIn', domains: ['Gmail.com'], points: -10 },
    ]);
    expect(fitOf({ email: 'pat@gmail.com' }, model).score).toBe(-10);
    expect(fitOf({ email: 'pat@eu.gmail.com' }, model).score).toBe(-10);
    expect(fitOf({ email: 'pat@notgmail.com' }, model).score).toBe(0);
  });

  it('present: any non-blank value', () => {
    const model = withFitRules([{ id: 'phone', label: 'Phone', op: 'present', field: 'phone', points: 3 }]);
    expect(fitOf({ profile: { phone: '+1 555 0100' } }, model).score).toBe(3);
    expect(fitOf({ profile: { phone: '   ' } }, model).score).toBe(0);
    expect(fitOf({}, model).score).toBe(0);
  });

  it('adds positive and negative points of every matching rule', () => {
    const model = withFitRules([
      { id: 'a', label: 'A', op: 'present', field: 'company', points: 5 },
      { id: 'b', label: 'B', op: 'present', field: 'industry', points: -7 },
    ]);
    expect(fitOf({ profile: { company: 'Acme', industry: 'Retail' } }, model).score).toBe(-2);
  });

  it('counts only the first match of a group, in model order', () => {
    const model = withFitRules([
      {
        id: 'assistant',
        label: 'Assistant',
        op: 'pattern',
        field: 'jobTitle',
        pattern: 'assistant',
        points: 1,
        group: 'title',
      },
      { id: 'ceo', label: 'CEO', op: 'pattern', field: 'jobTitle', pattern: 'ceo', points: 20, group: 'title' },
      { id: 'any', label: 'Any title', op: 'present', field: 'jobTitle', points: 2 },
    ]);
    expect(ids(fitOf({ profile: { jobTitle: 'Assistant to the CEO' } }, model))).toEqual(['assistant', 'any']);
    expect(ids(fitOf({ profile: { jobTitle: 'CEO' } }, model))).toEqual(['ceo', 'any']);
  });

  it('reports the disqualifying rule, competitor before not_a_fit', () => {
    const model = withFitRules([
      {
        id: 'student',
        label: 'Student',
        op: 'pattern',
        field: 'jobTitle',
        pattern: 'student',
        points: -5,
        disqualify: 'not_a_fit',
      },
      { id: 'rival', label: 'Rival', op: 'emailDomainIn', domains: ['rival.com'], points: 0, disqualify: 'competitor' },
    ]);
    expect(fitOf({ email: 'a@rival.com', profile: { jobTitle: 'student' } }, model).disqualifiedBy).toEqual({
      reason: 'competitor',
      ruleId: 'rival',
    });
    expect(fitOf({ profile: { jobTitle: 'student' } }, model).disqualifiedBy).toEqual({
      reason: 'not_a_fit',
      ruleId: 'student',
    });
    expect(fitOf({ profile: { jobTitle: 'CEO' } }, model).disqualifiedBy).toBeUndefined();
  });

  it('counts the known fields that the rules look at, email aside', () => {
    expect(fitOf({ profile: { jobTitle: 'CEO', firstName: 'Pat' }, bant: { need: 'reporting' } }).knownFields).toBe(2);
  });

  it('counts BANT evidence: answers that no negative rule matched', () => {
    const fit = fitOf({
      bant: { budget: 'no budget', authority: 'yes', need: 'faster quotes', timeline: 'just researching' },
    });
    expect(fit.bantEvidence).toBe(2);
  });
});

describe('readQuantity', () => {
  it.each([
    ['200', 200],
    ['51-200', 200],
    ['1000+', 1000],
    ['10,000', 10_000],
    ['5k', 5000],
    ['$1.5m', 1_500_000],
    ['less than 10', 10],
    ['10 to 50 people', 50],
    ['about 30 kids', 30],
    ['none', undefined],
  ])('reads %j as %j', (text, expected) => {
    expect(readQuantity(text)).toBe(expected);
  });
});

describe('grades', () => {
  it('maps fit to A-F by the bands', () => {
    const grades = defaultModel.fit.grades;
    expect([50, 40, 39, 25, 10, 0, -1, -15, -16].map((s) => gradeFor(s, grades))).toEqual([
      'A',
      'A',
      'B',
      'B',
      'C',
      'D',
      'E',
      'E',
      'F',
    ]);
  });
});

describe('the default fit rules', () => {
  it.each([
    ['CEO', 'title-decision-maker'],
    ['Chief Financial Officer', 'title-decision-maker'],
    ['VP Engineering', 'title-decision-maker'],
    ['Director of Operations', 'title-decision-maker'],
    ['Head of Growth', 'title-decision-maker'],
    ['Owner', 'title-decision-maker'],
    ['Co-Founder', 'title-decision-maker'],
    ['Senior Project Manager', 'title-manager'],
    ['Marketing Intern', 'title-student-intern'],
    ['PhD Student', 'title-student-intern'],
    ['Junior Analyst', 'title-entry-level'],
    ['Research Assistant', 'title-entry-level'],
    ['Freelance Designer', 'title-freelancer'],
    ['Self-employed', 'title-freelancer'],
    ['Executive Assistant to the CEO', 'title-assistant'],
  ])('reads the title %j as %s', (jobTitle, rule) => {
    expect(ids(fitOf({ profile: { jobTitle } })).filter((id) => id.startsWith('title-'))).toEqual([rule]);
  });

  it.each([
    ['1-10', 'size-1-10'],
    ['11-50', 'size-11-50'],
    ['51-200', 'size-51-200'],
    ['500', 'size-201-1000'],
    ['5000+', 'size-1001-plus'],
  ])('reads company size %j as %s', (companySize, rule) => {
    expect(ids(fitOf({ profile: { companySize } }))).toEqual([rule]);
  });

  it.each(['Real Estate', 'General Contractor', 'Healthcare', 'Tech Support', 'SaaS', 'Information Technology'])(
    'counts %j as an ideal-customer industry',
    (industry) => {
      expect(ids(fitOf({ profile: { industry } }))).toEqual(['industry-icp']);
    },
  );

  it('marks free mail down and competitors as such', () => {
    expect(fitOf({ email: 'pat@gmail.com' }).score).toBe(-10);
    expect(fitOf({ email: 'pat@hubspot.com' }).disqualifiedBy).toEqual({
      reason: 'competitor',
      ruleId: 'email-competitor',
    });
  });

  it.each([
    [{ budget: '$25,000' }, ['budget-named']],
    [{ budget: 'yes' }, ['budget-named']],
    [{ budget: 'No budget yet' }, ['budget-none']],
    [{ budget: '0' }, ['budget-none']],
    [{ authority: "Yes, I'm the decision maker" }, ['authority-decision-maker']],
    [{ authority: 'No, I recommend to my boss' }, ['authority-none']],
    [{ need: 'Faster estimates' }, ['need-stated']],
    [{ need: 'none' }, ['need-none']],
    [{ timeline: 'Within 3 months' }, ['timeline-this-quarter']],
    [{ timeline: 'ASAP' }, ['timeline-this-quarter']],
    [{ timeline: '6 months' }, ['timeline-this-year']],
    [{ timeline: 'Just researching' }, ['timeline-researching']],
  ] satisfies [Bant, string[]][])('reads BANT %j', (bant, expected) => {
    expect(ids(fitOf({ bant }))).toEqual(expected);
  });
});
