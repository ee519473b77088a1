import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import { EVENT_TYPES, type EventProperties, type EventType, type LeadEvent } from '../../../lambdas/domain/events.js';
import type { Lead, StageTransition } from '../../../lambdas/domain/lead.js';
import { FINAL_DISQUALIFICATIONS } from '../../../lambdas/domain/lifecycle.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import {
  applyEvents,
  decayedEngagement,
  defaultModel,
  rescore,
  type ScoringModel,
} from '../../../lambdas/domain/scoring/index.js';
import { T0, freshLead, modelWith } from './support.js';

const YEAR_MS = 365 * DAY_MS;
/** Properties run 100 histories each; give them room on a busy machine. */
const PROPERTY = { timeout: 60_000 };

/** Every engagement contribution kept, so caps can be checked from the explanation. */
const keepAll = modelWith((m) => {
  m.engagement.maxContributions = 100_000;
});

const HIGH_INTENT: ReadonlySet<EventType> = new Set([
  'demo_requested',
  'discovery_call_booked',
  'discovery_call_attended',
  'trial_started',
  'webinar_attended',
]);
/** Human verdicts and outcomes: not something a scoring rule decides. */
const SALES: ReadonlySet<EventType> = new Set(['sales_accepted', 'opportunity_created', 'purchase']);

const properties: fc.Arbitrary<EventProperties> = fc.record(
  {
    formId: fc.constantFrom('contact', 'ebook', 'newsletter', 'quote-request'),
    url: fc.constantFrom('https://x.io/pricing', 'https://x.io/blog/post', 'https://x.io/case-studies/acme'),
    link: fc.constantFrom('https://x.io/demo', 'https://x.io/blog'),
    bounceType: fc.constantFrom('permanent', 'transient'),
    machine: fc.boolean(),
    disqualify: fc.boolean(),
    consent: fc.boolean(),
    jobTitle: fc.constantFrom('CEO', 'Marketing Intern', 'Freelancer', 'Project Manager', 'VP Sales'),
    companySize: fc.constantFrom('1-10', '51-200', '500', '5000+'),
    industry: fc.constantFrom('Healthcare', 'Retail', 'SaaS'),
    budget: fc.constantFrom('$50k', 'no budget', 'yes'),
    authority: fc.constantFrom('yes', 'no'),
    timeline: fc.constantFrom('this quarter', 'just researching', '6 months'),
    utm_source: fc.constantFrom('google', 'linkedin'),
  },
  { requiredKeys: [] },
);

interface Draft {
  type: EventType;
  ms: number;
  properties: EventProperties;
}

const draft = (types: readonly EventType[]): fc.Arbitrary<Draft> =>
  fc.record({ type: fc.constantFrom(...types), ms: fc.integer({ min: 0, max: YEAR_MS }), properties });

/** Events in arrival order (not sorted), ids unique. */
const history = (types: readonly EventType[] = EVENT_TYPES, maxLength = 40): fc.Arbitrary<LeadEvent[]> =>
  fc.array(draft(types), { maxLength }).map((drafts) =>
    drafts.map((d, i) => {
      const at = new Date(T0 + d.ms).toISOString();
      return {
        eventId: `e-${String(i).padStart(3, '0')}`,
        leadId: 'lead-1',
        type: d.type,
        occurredAt: at,
        receivedAt: at,
        source: 'api',
        properties: d.properties,
      };
    }),
  );

const email = fc.constantFrom('pat@acme-builders.com', 'kim@gmail.com', 'sam@hubspot.com');
const ms = (event: LeadEvent): number => Date.parse(event.occurredAt);
const byTime = (events: LeadEvent[]): LeadEvent[] =>
  [...events].sort((a, b) => ms(a) - ms(b) || (a.eventId < b.eventId ? -1 : 1));
const lastMs = (events: LeadEvent[]): number => Math.max(T0, ...events.map(ms));

/** Applies the events in consecutive batches of the given sizes (in the order given), each as of its latest event. */
function inBatches(lead: Lead, events: LeadEvent[], sizes: number[], model: ScoringModel) {
  let current = lead;
  const transitions: StageTransition[] = [];
  let start = 0;
  let nowMs = T0;
  for (const size of [...sizes, events.length]) {
    const batch = events.slice(start, start + size);
    start += batch.length;
    nowMs = Math.max(nowMs, lastMs(batch));
    const result = applyEvents(current, batch, model, new Date(nowMs));
    current = result.lead;
    transitions.push(...result.transitions);
  }
  return { lead: current, transitions };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

describe('decay', () => {
  it('is monotone: the magnitude of engagement never grows with time', PROPERTY, () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: 0.5, max: 365, noNaN: true }),
        fc.integer({ min: 0, max: YEAR_MS }),
        fc.integer({ min: 0, max: YEAR_MS }),
        (engagement, halfLife, a, b) => {
          const scores = { engagement, scoredAt: new Date(T0).toISOString() };
          const earlier = decayedEngagement(scores, halfLife, new Date(T0 + Math.min(a, b)));
          const later = decayedEngagement(scores, halfLife, new Date(T0 + Math.max(a, b)));
          expect(Math.abs(later)).toBeLessThanOrEqual(Math.abs(earlier));
          expect(Math.sign(later) === Math.sign(engagement) || later === 0).toBe(true);
        },
      ),
    );
  });

  it('composes: decaying by t twice equals decaying by 2t', PROPERTY, () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: 0.5, max: 365, noNaN: true }),
        fc.integer({ min: 0, max: YEAR_MS / 2 }),
        (engagement, halfLife, t) => {
          const once = decayedEngagement(
            { engagement, scoredAt: new Date(T0).toISOString() },
            halfLife,
            new Date(T0 + t),
          );
          const twice = decayedEngagement(
            { engagement: once, scoredAt: new Date(T0 + t).toISOString() },
            halfLife,
            new Date(T0 + 2 * t),
          );
          const direct = decayedEngagement(
            { engagement, scoredAt: new Date(T0).toISOString() },
            halfLife,
            new Date(T0 + 2 * t),
          );
          expect(close(twice, direct)).toBe(true);
        },
      ),
    );
  });

  it('composes through rescore: rescoring at t then 2t equals rescoring at 2t', PROPERTY, () => {
    fc.assert(
      fc.property(email, history(), fc.integer({ min: 1, max: YEAR_MS }), (address, events, t) => {
        const scored = applyEvents(freshLead(address), events, defaultModel, new Date(lastMs(events))).lead;
        const from = lastMs(events);
        const stepwise = rescore(
          rescore(scored, defaultModel, new Date(from + t)).lead,
          defaultModel,
          new Date(from + 2 * t),
        );
        const direct = rescore(scored, defaultModel, new Date(from + 2 * t));
        expect(close(stepwise.lead.scores?.engagement ?? NaN, direct.lead.scores?.engagement ?? NaN)).toBe(true);
        expect(stepwise.lead.stage).toBe(direct.lead.stage);
      }),
    );
  });
});

describe('caps', () => {
  it('are never exceeded in any window, however events arrive and are batched', PROPERTY, () => {
    const capped = keepAll.engagement.rules.filter((rule) => rule.cap !== undefined);
    fc.assert(
      fc.property(
        history(EVENT_TYPES, 60),
        fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 6 }),
        (events, sizes) => {
          const { lead } = inBatches(freshLead(), events, sizes, keepAll);
          for (const rule of capped) {
            const periodMs = (rule.cap?.periodDays ?? 0) * DAY_MS;
            const perWindow = new Map<number, number>();
            for (const c of lead.scores?.contributions ?? []) {
              if (c.ruleId !== rule.id || c.at === undefined) continue;
              const window = Math.floor(Date.parse(c.at) / periodMs);
              perWindow.set(window, (perWindow.get(window) ?? 0) + Math.abs(c.points));
            }
            for (const used of perWindow.values()) expect(used).toBeLessThanOrEqual(rule.cap?.points ?? 0);
          }
        },
      ),
    );
  });
});

describe('replays and batching', () => {
  it('give the same result for the same events, in any order, repeated or not', PROPERTY, () => {
    fc.assert(
      fc.property(email, history(), fc.integer({ min: 0, max: YEAR_MS }), (address, events, extra) => {
        const now = new Date(lastMs(events) + extra);
        const once = applyEvents(freshLead(address), events, defaultModel, now);
        expect(applyEvents(freshLead(address), [...events].reverse(), defaultModel, now)).toEqual(once);
        expect(applyEvents(freshLead(address), [...events, ...events], defaultModel, now)).toEqual(once);
      }),
    );
  });

  it('give the same score, stage and transitions in two batches as in one', PROPERTY, () => {
    fc.assert(
      fc.property(
        email,
        history(),
        fc.nat(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: YEAR_MS }),
        (address, arrived, splitSeed, gap, extra) => {
          const events = byTime(arrived);
          // A lead is first scored with its first event (a new lead has no reviewAt, so no sweep sees it before).
          const split = events.length === 0 ? 0 : 1 + (splitSeed % events.length);
          const first = events.slice(0, split);
          const second = events.slice(split);
          const firstEnd = lastMs(first);
          const secondStart = second[0] === undefined ? firstEnd + extra : ms(second[0]);
          const now1 = firstEnd + gap * (secondStart - firstEnd);
          const now2 = Math.max(now1, lastMs(events)) + extra;

          const one = applyEvents(freshLead(address), events, defaultModel, new Date(now2));
          const a = applyEvents(freshLead(address), first, defaultModel, new Date(now1));
          const b = applyEvents(a.lead, second, defaultModel, new Date(now2));

          expect([...a.transitions, ...b.transitions]).toEqual(one.transitions);
          expect(comparable(b.lead)).toEqual(comparable(one.lead));
          expect(close(b.lead.scores?.engagement ?? NaN, one.lead.scores?.engagement ?? NaN)).toBe(true);
          expect(
            Math.abs(Date.parse(b.lead.reviewAt ?? '0') - Date.parse(one.lead.reviewAt ?? '0')),
          ).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('decay late events from their own time: batching never changes engagement without caps', PROPERTY, () => {
    const uncapped = modelWith((m) => {
      for (const rule of m.engagement.rules) delete rule.cap;
    });
    fc.assert(
      fc.property(history(), fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 6 }), (events, sizes) => {
        const nowMs = lastMs(events) + DAY_MS;
        const batched = inBatches(freshLead(), events, sizes, uncapped).lead;
        const final = rescore(batched, uncapped, new Date(nowMs)).lead;
        const one = applyEvents(freshLead(), events, uncapped, new Date(nowMs)).lead;
        expect(close(final.scores?.engagement ?? NaN, one.scores?.engagement ?? NaN)).toBe(true);
      }),
    );
  });
});

describe('lifecycle invariants', () => {
  const lowIntentTypes = EVENT_TYPES.filter((type) => !HIGH_INTENT.has(type) && !SALES.has(type));

  it('low-intent-only histories never reach SQL', PROPERTY, () => {
    const lowIntent = history(lowIntentTypes, 80).map((events) =>
      events.map((e) =>
        e.properties.formId === 'contact' || e.properties.formId === 'quote-request'
          ? { ...e, properties: { ...e.properties, formId: 'ebook' } }
          : e,
      ),
    );
    fc.assert(
      fc.property(lowIntent, fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 4 }), (events, sizes) => {
        const { lead, transitions } = inBatches(freshLead(), events, sizes, defaultModel);
        expect(transitions.some((t) => t.to === 'sql')).toBe(false);
        expect(lead.stage).not.toBe('sql');
        expect(lead.scores?.lastHighIntentAt).toBeUndefined();
      }),
    );
  });

  it('customers are never demoted', PROPERTY, () => {
    fc.assert(
      fc.property(
        email,
        history(),
        history(),
        fc.integer({ min: 0, max: 3 * YEAR_MS }),
        (address, before, after, later) => {
          const bought = applyEvents(freshLead(address), before, defaultModel, new Date(lastMs(before))).lead;
          const customer = applyEvents(
            bought,
            [purchaseAt(lastMs(before))],
            defaultModel,
            new Date(lastMs(before)),
          ).lead;
          expect(customer.stage).toBe('customer');
          const shifted = after.map((e) => ({
            ...e,
            eventId: `after-${e.eventId}`,
            occurredAt: new Date(ms(e) + lastMs(before) - T0).toISOString(),
          }));
          const { lead, transitions } = applyEvents(customer, shifted, defaultModel, new Date(lastMs(shifted)));
          expect(transitions).toEqual([]);
          expect(requalify(lead, defaultModel, new Date(lastMs(shifted) + later)).lead.stage).toBe('customer');
        },
      ),
    );
  });

  it('final disqualifications are never revived', PROPERTY, () => {
    const noPurchase = EVENT_TYPES.filter((type) => type !== 'purchase');
    fc.assert(
      fc.property(
        email,
        history(noPurchase, 60),
        fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 5 }),
        fc.integer({ min: 0, max: 3 * YEAR_MS }),
        (address, events, sizes, later) => {
          const { lead, transitions } = inBatches(freshLead(address), events, sizes, defaultModel);
          const final = transitions.findIndex(
            (t) => t.disqualification !== undefined && FINAL_DISQUALIFICATIONS.has(t.disqualification),
          );
          if (final >= 0) {
            expect(transitions.slice(final + 1)).toEqual([]);
            expect(lead.stage).toBe('disqualified');
            const swept = requalify(lead, defaultModel, new Date(lastMs(events) + later));
            expect(swept.transitions).toEqual([]);
            expect(swept.lead.reviewAt).toBeUndefined();
          }
        },
      ),
    );
  });

  it('keep the stage fields consistent and the history in order', PROPERTY, () => {
    fc.assert(
      fc.property(
        email,
        history(),
        fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 5 }),
        fc.integer({ min: 0, max: YEAR_MS }),
        (address, events, sizes, later) => {
          const scored = inBatches(freshLead(address), events, sizes, defaultModel);
          const swept = requalify(scored.lead, defaultModel, new Date(lastMs(events) + later));
          const transitions = [...scored.transitions, ...swept.transitions];
          const lead = swept.lead;
          expect(lead.disqualification !== undefined).toBe(lead.stage === 'disqualified');
          expect(lead.stageChangedAt).toBe(transitions.at(-1)?.at ?? freshLead().stageChangedAt);
          expect(lead.stage).toBe(transitions.at(-1)?.to ?? 'subscriber');
          transitions.forEach((t, i) => {
            if (i > 0) expect(t.from).toBe(transitions[i - 1]?.to);
            if (i > 0) expect(Date.parse(t.at)).toBeGreaterThanOrEqual(Date.parse(transitions[i - 1]?.at ?? ''));
          });
          if (lead.reviewAt !== undefined)
            expect(['subscriber', 'lead', 'mql', 'sql', 'disqualified']).toContain(lead.stage);
        },
      ),
    );
  });
});

function purchaseAt(atMs: number): LeadEvent {
  const at = new Date(atMs).toISOString();
  return {
    eventId: 'purchase-1',
    leadId: 'lead-1',
    type: 'purchase',
    occurredAt: at,
    receivedAt: at,
    source: 'api',
    properties: {},
  };
}

/** The lead without the floating-point figures, which are compared within tolerance. */
function comparable(lead: Lead): unknown {
  const { scores, reviewAt: _reviewAt, ...rest } = lead;
  if (!scores) return rest;
  const { engagement: _engagement, total: _total, scoredAt: _scoredAt, ...explained } = scores;
  return { ...rest, scores: explained };
}
