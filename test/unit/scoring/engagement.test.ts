import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import type { Lead } from '../../../lambdas/domain/lead.js';
import { awardCapped, decayCrossing, decayFactor, decayedPoints } from '../../../lambdas/domain/scoring/engagement.js';
import {
  decayedEngagement,
  defaultModel,
  parseModel,
  type EngagementRule,
  type ScoringModel,
} from '../../../lambdas/domain/scoring/index.js';
import { applyOn, day, eventOn, freshLead, isoDay } from './support.js';

/** The default model with its engagement rules replaced (half-life 10 days unless given). */
function withEngagement(rules: EngagementRule[], extra: Partial<ScoringModel['engagement']> = {}): ScoringModel {
  return parseModel({ ...defaultModel, engagement: { ...defaultModel.engagement, halfLifeDays: 10, ...extra, rules } });
}

const engagementOf = (lead: Lead): number => lead.scores?.engagement ?? Number.NaN;
const ruleIds = (lead: Lead): string[] =>
  (lead.scores?.contributions ?? []).filter((c) => c.kind === 'engagement').map((c) => c.ruleId);

describe('decay', () => {
  it('halves engagement every half-life, exactly and lazily', () => {
    const scores = { engagement: 40, scoredAt: isoDay(0) };
    expect(decayedEngagement(scores, 30, day(0))).toBe(40);
    expect(decayedEngagement(scores, 30, day(30))).toBeCloseTo(20, 12);
    expect(decayedEngagement(scores, 30, day(90))).toBeCloseTo(5, 12);
    expect(decayedEngagement(scores, 30, day(15))).toBeCloseTo(40 / Math.SQRT2, 12);
  });

  it('never grows when asked about a time before scoredAt', () => {
    expect(decayedEngagement({ engagement: 40, scoredAt: isoDay(10) }, 30, day(5))).toBe(40);
  });

  it('stores engagement as of scoredAt and decays each event from its own time', () => {
    const model = withEngagement([{ id: 'demo', label: 'Demo', event: 'demo_requested', points: 20, intent: 'high' }]);
    const { lead } = applyOn(freshLead(), [eventOn(0, 'demo_requested'), eventOn(10, 'demo_requested')], 20, model);
    expect(lead.scores?.scoredAt).toBe(isoDay(20));
    expect(engagementOf(lead)).toBeCloseTo(20 * 0.25 + 20 * 0.5, 10);
  });

  it('decays an out-of-order event from its own occurredAt', () => {
    const model = withEngagement([
      { id: 'dl', label: 'Download', event: 'content_download', points: 8, intent: 'low' },
    ]);
    const first = applyOn(freshLead(), [eventOn(10, 'content_download')], 10, model).lead;
    const late = applyOn(first, [eventOn(0, 'content_download')], 20, model).lead;
    expect(engagementOf(late)).toBeCloseTo(8 * 0.5 + 8 * 0.25, 10);
  });

  it('finds the exact instant a value decays below a threshold', () => {
    const at = day(0).getTime();
    const crossing = decayCrossing(40, at, 10, 30 * DAY_MS);
    expect(crossing).toBe(Math.floor(at + 60 * DAY_MS) + 1);
    expect(decayCrossing(5, at, 10, 30 * DAY_MS)).toBeUndefined();
    expect(decayCrossing(-5, at, 0, 30 * DAY_MS)).toBeUndefined();
  });
});

describe('engagement rules', () => {
  const rules: EngagementRule[] = [
    {
      id: 'contact',
      label: 'Contact',
      event: 'form_submitted',
      where: { formId: 'contact' },
      points: 15,
      intent: 'high',
    },
    {
      id: 'quote',
      label: 'Quote',
      event: 'form_submitted',
      where: { formId: ['quote', 'rfp'] },
      points: 12,
      intent: 'high',
    },
    { id: 'form', label: 'Form', event: 'form_submitted', points: 5, intent: 'low' },
    { id: 'pricing', label: 'Pricing', event: 'page_viewed', where: { url: '/pricing' }, points: 4, intent: 'low' },
    { id: 'demo-link', label: 'Demo link', event: 'email_clicked', where: { link: 'demo' }, points: 6, intent: 'low' },
    {
      id: 'hard',
      label: 'Hard bounce',
      event: 'email_bounced',
      where: { bounceType: 'permanent' },
      points: -15,
      intent: 'low',
    },
    {
      id: 'soft',
      label: 'Soft bounce',
      event: 'email_bounced',
      where: { bounceType: 'transient' },
      points: -2,
      intent: 'low',
    },
    { id: 'open', label: 'Open', event: 'email_opened', points: 1, intent: 'low' },
  ];
  const model = withEngagement(rules);
  const scoredBy = (type: Parameters<typeof eventOn>[1], properties: Parameters<typeof eventOn>[2]): string[] =>
    ruleIds(applyOn(freshLead(), [eventOn(0, type, properties)], 0, model).lead);

  it('filters on formId (equals or one of)', () => {
    expect(scoredBy('form_submitted', { formId: 'contact' })).toEqual(['contact']);
    expect(scoredBy('form_submitted', { formId: 'rfp' })).toEqual(['quote']);
    expect(scoredBy('form_submitted', { formId: 'ebook' })).toEqual(['form']);
  });

  it('filters on url and link patterns', () => {
    expect(scoredBy('page_viewed', { url: 'https://x.io/Pricing?plan=pro' })).toEqual(['pricing']);
    expect(scoredBy('page_viewed', { url: 'https://x.io/blog' })).toEqual([]);
    expect(scoredBy('email_clicked', { link: 'https://x.io/book-a-demo' })).toEqual(['demo-link']);
  });

  it('filters on bounce type; anything but permanent is transient', () => {
    expect(scoredBy('email_bounced', { bounceType: 'permanent' })).toEqual(['hard']);
    expect(scoredBy('email_bounced', { bounceType: 'transient' })).toEqual(['soft']);
    expect(scoredBy('email_bounced', {})).toEqual(['soft']);
  });

  it('scores an event by the first matching rule only', () => {
    const { lead } = applyOn(freshLead(), [eventOn(0, 'form_submitted', { formId: 'contact' })], 0, model);
    expect(engagementOf(lead)).toBe(15);
  });

  it('takes points away for negative rules', () => {
    const { lead } = applyOn(freshLead(), [eventOn(0, 'email_opened'), eventOn(0, 'email_bounced')], 0, model);
    expect(engagementOf(lead)).toBe(-1);
  });

  it('scores machine-flagged events machinePoints, as neither engagement nor intent nor activity', () => {
    const flagged = eventOn(3, 'email_clicked', { link: 'https://x.io/demo', machine: true });
    const { lead } = applyOn(freshLead(), [flagged], 3, model);
    expect(engagementOf(lead)).toBe(0);
    expect(lead.lastActivityAt).toBe(isoDay(0));
    expect(lead.lastEngagedAt).toBeUndefined();

    const counted = withEngagement(rules, { machinePoints: 0.5 });
    const scored = applyOn(freshLead(), [flagged], 3, counted).lead;
    expect(engagementOf(scored)).toBe(0.5);
    expect(scored.scores?.contributions.at(-1)?.label).toBe('Demo link (machine)');
  });

  it('tracks the last high-intent action and the last engagement', () => {
    const { lead } = applyOn(
      freshLead(),
      [eventOn(1, 'form_submitted', { formId: 'contact' }), eventOn(2, 'email_opened'), eventOn(3, 'email_bounced')],
      3,
      model,
    );
    expect(lead.scores?.lastHighIntentAt).toBe(isoDay(1));
    expect(lead.lastEngagedAt).toBe(isoDay(2));
  });
});

describe('caps', () => {
  const capped: EngagementRule = {
    id: 'open',
    label: 'Open',
    event: 'email_opened',
    points: 2,
    intent: 'low',
    cap: { points: 5, periodDays: 7 },
  };

  it('awards at most the cap per window, partially if need be', () => {
    const week = 7 * DAY_MS;
    const start = Math.floor(day(0).getTime() / week) * week;
    let caps = {};
    const awarded: number[] = [];
    for (const offset of [0, 1, 2, 3]) {
      const result = awardCapped(caps, capped, 2, start + offset * DAY_MS);
      caps = result.caps;
      awarded.push(result.awarded);
    }
    expect(awarded).toEqual([2, 2, 1, 0]);
    expect(awardCapped(caps, capped, 2, start + week).awarded).toBe(2);
  });

  it('gives nothing to a late event whose window has closed', () => {
    const week = 7 * DAY_MS;
    const start = Math.floor(day(0).getTime() / week) * week;
    const { caps } = awardCapped({}, capped, 2, start + week);
    expect(awardCapped(caps, capped, 2, start + 1).awarded).toBe(0);
  });

  it('caps negative rules by magnitude', () => {
    const rule: EngagementRule = { ...capped, points: -4, cap: { points: 6, periodDays: 30 } };
    const first = awardCapped({}, rule, -4, day(0).getTime());
    expect(first.awarded).toBe(-4);
    expect(awardCapped(first.caps, rule, -4, day(0).getTime()).awarded).toBe(-2);
  });

  it('keeps opens from adding up without bound', () => {
    const model = withEngagement([capped], { halfLifeDays: 10_000 });
    const opens = Array.from({ length: 50 }, (_, i) => eventOn(i / 10, 'email_opened'));
    const { lead } = applyOn(freshLead(), opens, 5, model);
    expect(engagementOf(lead)).toBeLessThanOrEqual(10);
    expect(Object.keys(lead.scores?.caps ?? {})).toEqual(['open']);
  });
});

describe('the explanation', () => {
  it('lists fit contributions and the most significant engagement ones, with decayed points', () => {
    const model = withEngagement(
      [
        { id: 'open', label: 'Open', event: 'email_opened', points: 1, intent: 'low' },
        { id: 'demo', label: 'Demo', event: 'demo_requested', points: 20, intent: 'high' },
      ],
      { maxContributions: 3 },
    );
    const opens = Array.from({ length: 10 }, (_, i) => eventOn(i, 'email_opened'));
    const { lead } = applyOn(
      freshLead('pat@gmail.com'),
      [...opens, eventOn(0, 'demo_requested', {}, 'demo-1')],
      10,
      model,
    );
    const contributions = lead.scores?.contributions ?? [];
    expect(contributions[0]).toEqual({
      ruleId: 'email-free-mail',
      kind: 'fit',
      label: 'Free-mail address',
      points: -10,
    });
    expect(contributions.filter((c) => c.kind === 'engagement')).toEqual([
      {
        ruleId: 'demo',
        kind: 'engagement',
        label: 'Demo',
        points: 20,
        intent: 'high',
        at: isoDay(0),
        eventId: 'demo-1',
        decayedPoints: 10,
      },
      expect.objectContaining({ ruleId: 'open', at: isoDay(9), decayedPoints: 0.93 }),
      expect.objectContaining({ ruleId: 'open', at: isoDay(8), decayedPoints: 0.87 }),
    ]);
  });

  it('keeps the score exact when the explanation is trimmed', () => {
    const model = withEngagement([{ id: 'open', label: 'Open', event: 'email_opened', points: 1, intent: 'low' }], {
      maxContributions: 1,
    });
    const { lead } = applyOn(freshLead(), [eventOn(0, 'email_opened'), eventOn(0, 'email_opened')], 0, model);
    expect(engagementOf(lead)).toBe(2);
    expect(ruleIds(lead)).toEqual(['open']);
  });
});

describe('decayed points in the explanation', () => {
  /** The definition: the points times the exact decay factor, rounded to the cent. */
  const direct = (points: number, elapsedMs: number, halfLifeMs: number): number =>
    Math.round(points * decayFactor(elapsedMs, halfLifeMs) * 100) / 100;
  const same = (a: number, b: number): boolean => Object.is(a, b);

  it('are exactly the points times the decay factor, rounded to the cent', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
        fc.oneof(
          fc.integer({ min: -400 * DAY_MS, max: 4000 * DAY_MS }),
          fc.double({ min: -1e13, max: 1e14, noNaN: true }),
        ),
        fc.double({ min: 0.01 * DAY_MS, max: 1000 * DAY_MS, noNaN: true }),
        (points, elapsedMs, halfLifeMs) => {
          expect(same(decayedPoints(points, elapsedMs, halfLifeMs), direct(points, elapsedMs, halfLifeMs))).toBe(true);
        },
      ),
      { numRuns: 100_000 },
    );
  });

  it('are exact next to a rounding boundary, where the cheaper power cannot decide', { timeout: 60_000 }, () => {
    // Elapsed times whose decayed points land within a hair of a half cent: x.xx5 exactly, and either side of it.
    const h = 30 * DAY_MS;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 1999 }),
        fc.integer({ min: -3, max: 3 }),
        (points, halfCents, ulps) => {
          const target = (halfCents + 0.5) / 100 / points;
          const elapsed = -Math.log2(target) * h + ulps;
          if (!(target < 1)) return;
          expect(same(decayedPoints(points, elapsed, h), direct(points, elapsed, h))).toBe(true);
          expect(same(decayedPoints(-points, elapsed, h), direct(-points, elapsed, h))).toBe(true);
        },
      ),
      { numRuns: 50_000 },
    );
  });
});
