import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../../../lambdas/domain/events.js';
import { compare, ExperimentsFold, type StageTimeline } from '../../../lambdas/domain/experiments/report.js';
import type { Stage } from '../../../lambdas/domain/lead.js';
import type { LeadLog } from '../../../lambdas/domain/model-lab/replay.js';
import { DEFAULT_NURTURE_PLAN } from '../../../lambdas/domain/nurture/default-tracks.js';

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
const EXP = 'testimonials-2026-1';

let seq = 0;
const ev = (
  leadId: string,
  day: number,
  type: EventType,
  properties: EventProperties,
  source = 'nurture',
): LeadEvent => ({
  eventId: `e${++seq}`,
  leadId,
  type,
  occurredAt: new Date(T0 + day * DAY_MS).toISOString(),
  receivedAt: new Date(T0 + day * DAY_MS).toISOString(),
  source: source as LeadEvent['source'],
  properties,
});
const treated = (leadId: string, day: number, touch: number, extra: EventProperties = {}) =>
  ev(leadId, day, 'email_sent', { track: 'testimonials', touch, experimentId: EXP, arm: 'treatment', ...extra });
const heldOut = (leadId: string, day: number, touch: number, experimentId = EXP) =>
  ev(leadId, day, 'touch_held_out', { track: 'testimonials', touch, experimentId, arm: 'holdout' });
const log = (leadId: string, events: LeadEvent[]): LeadLog => ({
  lead: { leadId, email: `${leadId}@example.com`, createdAt: new Date(T0 - 30 * DAY_MS).toISOString() },
  events,
});
/** A timeline with the given changes (days from T0), starting as an MQL. */
const timelines = new Map<string, StageTimeline>();
const stages = (leadId: string, changes: [number, Stage][] = []) =>
  timelines.set(leadId, { initial: 'mql', changes: changes.map(([d, to]) => ({ atMs: T0 + d * DAY_MS, to })) });
const timeline = (l: LeadLog): StageTimeline => timelines.get(l.lead.leadId) ?? { initial: 'subscriber', changes: [] };

const fold = (logs: LeadLog[], asOfDay = 60, track?: string) => {
  const f = new ExperimentsFold({
    plan: DEFAULT_NURTURE_PLAN,
    asOf: new Date(T0 + asOfDay * DAY_MS),
    ...(track !== undefined && { track }),
  });
  for (const l of logs) f.add(l, timeline);
  return f.finish();
};

describe('the experiments report', () => {
  it('counts each lead once, in the arm of its first touch, and its conversions within the track window', () => {
    stages('a', [[2, 'sql']]); // SQL within the 7 days
    stages('b', [[9, 'sql']]); // SQL after the window
    stages('c', [[1, 'sql']]);
    stages('d');
    const report = fold([
      log('a', [treated('a', 0, 1), treated('a', 3, 2)]),
      log('b', [treated('b', 0, 1)]),
      log('c', [heldOut('c', 0, 1), heldOut('c', 3, 2)]),
      log('d', [heldOut('d', 0, 1), ev('d', 4, 'opportunity_created', {}, 'api')]),
    ]);
    const [e] = report.experiments;
    expect(report.experiments).toHaveLength(1);
    expect(e).toMatchObject({
      track: 'testimonials',
      experimentId: EXP,
      current: true,
      holdoutPercent: 20,
      windowDays: 7,
    });
    expect(e?.arms.treatment).toMatchObject({
      leads: 2,
      pending: 0,
      conversions: { mql: { count: 2 }, sql: { count: 1 }, opportunity: { count: 0 } },
    });
    expect(e?.arms.holdout).toMatchObject({
      leads: 2,
      conversions: { mql: { count: 2 }, sql: { count: 1 }, opportunity: { count: 1 } },
    });
    expect(e?.uplift.sql.difference).toBe(0);
    expect(e?.verdict).toMatch(
      /^not enough data yet: need about [\d,]+ more leads per arm to detect a 5-point difference/,
    );
  });

  it('keeps a lead inside its window out of the rates (pending), and ignores what happened after asOf', () => {
    stages('p');
    const report = fold([log('p', [treated('p', 55, 1)]), log('q', [treated('q', 61, 1)])], 60);
    expect(report.experiments[0]?.arms.treatment).toMatchObject({ leads: 0, pending: 1 });
  });

  it('keeps an earlier experiment apart when the experiment id changes', () => {
    const report = fold([
      log('x', [heldOut('x', 0, 1, 'testimonials-2025-9')]),
      log('y', [treated('y', 10, 1)]),
      log('z', [heldOut('z', 0, 1, 'testimonials-2025-9'), treated('z', 20, 1)]),
    ]);
    expect(
      report.experiments.map((e) => [e.experimentId, e.current, e.arms.holdout.leads, e.arms.treatment.leads]),
    ).toEqual([
      [EXP, true, 0, 2],
      ['testimonials-2025-9', false, 2, 0],
    ]);
    expect(report.experiments[1]?.holdoutPercent).toBeNull();
    expect(report.experiments[0]?.verdict).toBe('no holdout: nothing to compare the track with');
  });

  it('counts opens and clicks of each content variant by lead, leaving machine activity out', () => {
    const send = (id: string, variant: string) =>
      treated(id, 0, 1, {
        contentVariant: variant,
        template: variant === 'numbers' ? 'testimonial-1-numbers' : 'testimonial-1',
        messageId: `m-${id}`,
      });
    const open = (id: string, machine: boolean) =>
      ev(
        id,
        0.5,
        'email_opened',
        { messageId: `m-${id}`, track: 'testimonials', touch: '1', ...(machine && { machine: true }) },
        'ses',
      );
    const click = (id: string, machine: boolean) =>
      ev(id, 0.6, 'email_clicked', { messageId: `m-${id}`, ...(machine && { machine: true }) }, 'ses');
    const report = fold([
      log('v1', [send('v1', 'quotes'), open('v1', false), open('v1', false)]),
      log('v2', [send('v2', 'quotes'), open('v2', true), click('v2', true)]),
      log('v3', [send('v3', 'numbers'), click('v3', false)]),
      // An open of another touch, by its tags: not touch 1's.
      log('v4', [send('v4', 'numbers'), ev('v4', 4, 'email_opened', { track: 'testimonials', touch: '2' }, 'ses')]),
    ]);
    const touch1 = report.experiments[0]?.touches[0];
    expect(touch1?.variants.map((v) => [v.id, v.leads, v.opened.count, v.clicked.count, v.machineEvents])).toEqual([
      ['quotes', 2, 1, 0, 2],
      ['numbers', 2, 1, 1, 0],
    ]);
    expect(touch1?.clickDifference[0]).toMatchObject({ variant: 'numbers', against: 'quotes' });
  });

  it('reads only the asked track, and nothing from events that are not nurture’s records', () => {
    const report = fold(
      [
        log('n', [
          ev('n', 0, 'email_sent', { track: 'testimonials', touch: 1, experimentId: EXP, arm: 'treatment' }, 'api'),
        ]),
      ],
      60,
    );
    expect(report.experiments).toEqual([]);
    expect(fold([log('t', [treated('t', 0, 1)])], 60, 'newsletter').experiments).toEqual([]);
  });
});

describe('the verdict', () => {
  it('says when the interval excludes zero, and how many more leads a 5-point difference needs otherwise', () => {
    expect(compare({ count: 300, of: 1000 }, { count: 200, of: 1000 }, 0.05).verdict).toMatch(
      /^treatment converts more than holdout: \+10\.0 points \(95% CI \+6\.\d points to \+13\.\d points\)$/,
    );
    const few = compare({ count: 12, of: 80 }, { count: 2, of: 20 }, 0.05);
    expect(few.neededPerArm).toBe(686);
    expect(few.verdict).toMatch(
      /^not enough data yet: need about 670 more leads per arm to detect a 5-point difference/,
    );
    expect(compare({ count: 1000, of: 10000 }, { count: 1000, of: 10000 }, 0.05).verdict).toMatch(
      /^no difference of 5 points or more/,
    );
    expect(compare({ count: 0, of: 0 }, { count: 0, of: 0 }, 0.05).verdict).toMatch(/^not enough data yet/);
  });
});
