import { describe, expect, it } from 'vitest';
import { ulid } from 'ulid';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';
import { assignmentFor, contentVariantFor, unitHash } from '../../../lambdas/domain/nurture/experiments.js';
import { enrollmentDecision, withEnrollment } from '../../../lambdas/domain/nurture/enrollment.js';
import { parseNurturePlan, trackById, type Track } from '../../../lambdas/domain/nurture/tracks.js';
import { newLead } from '../../../lambdas/domain/lead.js';

const track = (over: Partial<Track> = {}): Track => ({
  ...trackById(DEFAULT_NURTURE_PLAN, 'testimonials'),
  ...over,
});
const leadIds = Array.from({ length: 20_000 }, (_, i) => `01J${String(i).padStart(23, '0')}`);

describe('holdout assignment', () => {
  it('holds out close to the percent of leads (within 3 standard errors), for several percents', () => {
    for (const percent of [5, 20, 50]) {
      const t = track({ holdoutPercent: percent });
      const held = leadIds.filter((id) => assignmentFor(id, t)?.arm === 'holdout').length;
      const p = percent / 100;
      const se = Math.sqrt((p * (1 - p)) / leadIds.length);
      expect(Math.abs(held / leadIds.length - p)).toBeLessThan(3 * se);
    }
  });

  it('is stable: the same lead, track and experiment always give the same arm', () => {
    const t = track();
    for (const id of leadIds.slice(0, 500)) expect(assignmentFor(id, t)).toEqual(assignmentFor(id, { ...t }));
    expect(assignmentFor('01JABC', t)).toEqual({ experimentId: 'testimonials-2026-1', arm: expect.any(String) });
  });

  it('reshuffles for a new experiment id: about the holdout share of the old holdout stays held out', () => {
    const before = track({ experimentId: 'exp-1' });
    const after = track({ experimentId: 'exp-2' });
    const heldBefore = leadIds.filter((id) => assignmentFor(id, before)?.arm === 'holdout');
    const heldAgain = heldBefore.filter((id) => assignmentFor(id, after)?.arm === 'holdout');
    expect(heldAgain.length / heldBefore.length).toBeGreaterThan(0.15);
    expect(heldAgain.length / heldBefore.length).toBeLessThan(0.25);
  });

  it('holds nobody out at 0%, and assigns nothing on a track without an experiment', () => {
    const t = track({ holdoutPercent: 0 });
    expect(leadIds.slice(0, 1000).every((id) => assignmentFor(id, t)?.arm === 'treatment')).toBe(true);
    expect(assignmentFor(leadIds[0] ?? '', trackById(DEFAULT_NURTURE_PLAN, 'newsletter'))).toBeUndefined();
  });

  it('gives a uniform hash in [0, 1)', () => {
    const values = leadIds.map((id) => unitHash('x', id));
    expect(values.every((u) => u >= 0 && u < 1)).toBe(true);
    const mean = values.reduce((s, u) => s + u, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });

  it('records the arm on the lead and in the run enrollment starts', () => {
    const lead = { ...newLead(ulid(), 'a@example.com', new Date('2026-03-02T10:00:00Z')), stage: 'mql' as const };
    const scored = {
      ...lead,
      consent: { marketing: true, at: lead.createdAt, source: 'form:demo' },
      scores: {
        fit: 40,
        engagement: 50,
        total: 90,
        grade: 'A' as const,
        scoredAt: lead.createdAt,
        caps: {},
        contributions: [],
      },
    };
    const decision = enrollmentDecision(undefined, scored, DEFAULT_NURTURE_PLAN.tracks);
    const expected = assignmentFor(lead.leadId, track());
    expect(decision.start).toMatchObject({ track: 'testimonials', ...expected });
    expect(withEnrollment(scored, decision, new Date()).nurture).toMatchObject({ track: 'testimonials', ...expected });
  });
});

describe('content variants', () => {
  const t = track();
  const touch = t.touches[0] ?? { name: '', contentVariants: undefined };

  it('split by weight, deterministically and independently of the holdout', () => {
    const counts = new Map<string, number>();
    for (const id of leadIds) {
      const v = contentVariantFor(id, t, touch);
      counts.set(v?.id ?? 'none', (counts.get(v?.id ?? 'none') ?? 0) + 1);
      expect(contentVariantFor(id, t, touch)).toBe(v);
    }
    expect(Math.abs((counts.get('quotes') ?? 0) / leadIds.length - 0.5)).toBeLessThan(0.02);
    const weighted = {
      ...touch,
      contentVariants: (touch.contentVariants ?? []).map((v, i) => ({ ...v, weight: i === 0 ? 3 : 1 })),
    };
    const first = leadIds.filter((id) => contentVariantFor(id, t, weighted)?.id === 'quotes').length;
    expect(Math.abs(first / leadIds.length - 0.75)).toBeLessThan(0.02);
    const held = leadIds.filter((id) => assignmentFor(id, t)?.arm === 'holdout');
    const heldQuotes = held.filter((id) => contentVariantFor(id, t, touch)?.id === 'quotes').length;
    expect(Math.abs(heldQuotes / held.length - 0.5)).toBeLessThan(0.04);
  });

  it('is none for a touch that tests nothing', () => {
    expect(contentVariantFor(leadIds[0] ?? '', t, t.touches[1] ?? touch)).toBeUndefined();
  });
});

describe('a tracks file with experiments', () => {
  const base = {
    policy: DEFAULT_NURTURE_PLAN.policy,
    industries: [],
  };
  const plan = (over: Record<string, unknown>, touch: Record<string, unknown> = {}) => ({
    ...base,
    tracks: [
      {
        id: 'proof',
        description: 'x',
        entry: { stages: ['mql'] },
        exit: { handoffStages: ['sql'], stages: [] },
        touches: [{ name: 'proof 1', template: 'testimonial-1', waitDays: 3, ...touch }],
        ...over,
      },
    ],
  });

  it('needs an experiment id for a holdout or a content test, and the control among the variants', () => {
    expect(() => parseNurturePlan(plan({ holdoutPercent: 10 }))).toThrow(/tracks\.0\.experimentId: a holdout needs/);
    const variants = [
      { id: 'a', template: 'testimonial-1' },
      { id: 'b', template: 'testimonial-2' },
    ];
    expect(() => parseNurturePlan(plan({}, { contentVariants: variants }))).toThrow(
      /needs the track to name its experimentId/,
    );
    expect(() =>
      parseNurturePlan(plan({ experimentId: 'e1' }, { contentVariants: [variants[1], { id: 'c', template: 'x-y' }] })),
    ).toThrow(/must send the touch's own template/);
    expect(() => parseNurturePlan(plan({ holdoutPercent: 60, experimentId: 'e1' }))).toThrow(/holdoutPercent/);
    expect(
      parseNurturePlan(plan({ holdoutPercent: 10, experimentId: 'e1' }, { contentVariants: variants })).tracks[0],
    ).toMatchObject({
      holdoutPercent: 10,
      experimentId: 'e1',
    });
  });

  it('keeps the holdout off the re-engagement track and off transactional mail (not a track touch)', () => {
    expect(() =>
      parseNurturePlan(plan({ holdoutPercent: 10, experimentId: 'e1', reengagement: { maxCycles: 1 } })),
    ).toThrow(/re-engagement track cannot hold leads out/);
    const templates = DEFAULT_NURTURE_PLAN.tracks.flatMap((t) => t.touches.map((touch) => touch.template));
    expect(templates).not.toContain('confirm-subscription');
  });
});
