import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import { EVENT_TYPES, type EventProperties, type EventType, type LeadEvent } from '../../../lambdas/domain/events.js';
import { Lead, newLead } from '../../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../../lambdas/domain/lifecycle.js';
import { requalify } from '../../../lambdas/domain/requalification.js';
import {
  applyEvents,
  defaultModel,
  parseModel,
  rescore,
  type ScoringModel,
  type ScoringModelInput,
} from '../../../lambdas/domain/scoring/index.js';

/**
 * Golden scoring cases: seeded random lead histories fed through `applyEvents`, `rescore`, `requalify` and
 * `markUnresponsive` in random batches (one at a time, whole history, model changes between batches), with every
 * step's full result pinned as it was when the fixture was written. The fixture stores the inputs (models, starting
 * leads, events, instants) next to the expected outputs, so it does not depend on how fast-check generates values.
 *
 * `npx tsx test/unit/scoring/golden-cases.ts` rewrites test/fixtures/scoring/golden.json from the code as it is.
 * Do that only for an intended change of scoring behaviour, and say so in the commit: the fixture exists to prove
 * that a change of representation changed no result, bit for bit.
 */

export const GOLDEN_PATH = new URL('../../fixtures/scoring/golden.json', import.meta.url);

const T0 = Date.parse('2025-01-06T09:00:00.000Z');
const YEAR_MS = 365 * DAY_MS;

export type Step =
  | { op: 'apply'; model: string; events: LeadEvent[]; nowMs: number }
  | { op: 'rescore'; model: string; nowMs: number }
  | { op: 'requalify'; model: string; nowMs: number }
  | { op: 'unresponsive'; model: string; nowMs: number };

export interface GoldenCase {
  name: string;
  lead: Lead;
  /** Each step's lead goes through storage first (JSON and the `Lead` schema, as the adapters read it back). */
  stored?: boolean;
  steps: Step[];
  /** Per step: the first 16 hex digits of the SHA-256 of the step's canonical result. */
  digests: string[];
  /** Per step: the same of the result's plain JSON text, so the order of keys is pinned too. */
  jsonDigests: string[];
  /** The last step's full result, canonical (for a readable diff when a digest differs). */
  final: unknown;
}

export interface Golden {
  models: Record<string, ScoringModelInput>;
  cases: GoldenCase[];
}

/** The models the cases run under, as plain data (stored in the fixture, so a change to the default does not move it). */
function goldenModels(): Record<string, ScoringModel> {
  const change = (f: (m: ScoringModel) => void): ScoringModel => {
    const copy = structuredClone(defaultModel);
    f(copy);
    return parseModel(copy);
  };
  return {
    default: defaultModel,
    keepAll: change((m) => {
      m.engagement.maxContributions = 100_000;
    }),
    few: change((m) => {
      m.engagement.maxContributions = 3;
    }),
    uncapped: change((m) => {
      for (const rule of m.engagement.rules) delete rule.cap;
    }),
    fast: change((m) => {
      m.engagement.halfLifeDays = 7.3;
      m.engagement.machinePoints = 0.5;
      m.lifecycle.dormantAfterDays = 20;
      m.lifecycle.coolOffDays = 15.5;
      m.lifecycle.maxTransientBounces = 2;
      m.thresholds.sql.highIntentWithinDays = 10;
      for (const rule of m.engagement.rules) if (rule.cap) rule.cap = { points: rule.cap.points, periodDays: 2.5 };
    }),
    strict: change((m) => {
      m.thresholds.mql = { fit: 20, engagement: 25 };
      m.thresholds.sql = { ...m.thresholds.sql, minBantAnswers: 0, minFit: 25, minEngagement: 30 };
      m.thresholds.notAFit = { fitBelow: -5, minKnownFields: 1 };
      m.fit.grades = { A: 50, B: 30, C: 5, D: -5, E: -20 };
    }),
  };
}

const PROPERTIES: fc.Arbitrary<EventProperties> = fc.record(
  {
    formId: fc.constantFrom('contact', 'ebook', 'newsletter', 'quote-request', 'contact-sales', ''),
    url: fc.constantFrom(
      'https://x.io/pricing',
      'https://x.io/plans',
      'https://x.io/blog/post',
      'https://x.io/case-studies/acme',
      'https://x.io/customers/b',
    ),
    link: fc.constantFrom('https://x.io/demo', 'https://x.io/blog', 'https://x.io/contact', 'https://x.io/pricing'),
    bounceType: fc.constantFrom('permanent', 'transient', 'undetermined'),
    machine: fc.constantFrom(true, false, 'true'),
    disqualify: fc.boolean(),
    consent: fc.boolean(),
    ip: fc.constantFrom('203.0.113.7', '198.51.100.2'),
    firstName: fc.constantFrom('Pat', '  Kim ', ''),
    company: fc.constantFrom('Acme Builders', 'Northwind', '   '),
    jobTitle: fc.constantFrom('CEO', 'Marketing Intern', 'Freelancer', 'Project Manager', 'VP Sales', 'researcher'),
    companySize: fc.constantFrom('1-10', '11-50', '51-200', '500', '5000+', 'ten', '10,000'),
    industry: fc.constantFrom('Healthcare', 'Retail', 'SaaS', 'Real Estate'),
    phone: fc.constantFrom('+1 555 0100', ''),
    budget: fc.constantFrom('$50k', 'no budget', 'yes', 'none'),
    authority: fc.constantFrom('yes', 'no', 'I recommend'),
    need: fc.constantFrom('faster follow-up', 'none', ''),
    timeline: fc.constantFrom('this quarter', 'just researching', '6 months', 'asap'),
    utm_source: fc.constantFrom('google', 'linkedin', ''),
    utm_campaign: fc.constantFrom('spring', 'retarget'),
    count: fc.integer({ min: -5, max: 5 }),
    note: fc.constantFrom(null, 'hello'),
  },
  { requiredKeys: [] },
);

const EMAILS = ['pat@acme-builders.com', 'kim@gmail.com', 'sam@hubspot.com', 'lee@eu.hubspot.com', 'jo@northwind.io'];

/** Mostly canonical instants; some without milliseconds or with a sub-millisecond fraction (both valid inputs). */
const instant = (ms: number, style: number): string => {
  const iso = new Date(ms).toISOString();
  if (style === 1) return iso.replace(/\.\d{3}Z$/, 'Z');
  if (style === 2) return iso.replace(/Z$/, '417Z');
  return iso;
};

interface Draft {
  type: EventType;
  ms: number;
  style: number;
  properties: EventProperties;
  /** Reuse the id of an earlier event (a redelivery, or a conflicting duplicate). */
  repeat: number | null;
}

/** Engagement is common, sales verdicts and the events that end a lead's marketing life are rare. */
const RARE: ReadonlySet<EventType> = new Set([
  'email_unsubscribed',
  'email_complained',
  'email_bounced',
  'sales_accepted',
  'sales_rejected',
  'opportunity_created',
  'purchase',
]);
const TYPE: fc.Arbitrary<EventType> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...EVENT_TYPES.filter((type) => !RARE.has(type))) },
  { weight: 2, arbitrary: fc.constantFrom(...RARE) },
);

const DRAFT: fc.Arbitrary<Draft> = fc.record({
  type: TYPE,
  ms: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: YEAR_MS }) },
    { weight: 1, arbitrary: fc.integer({ min: -10 * DAY_MS, max: 0 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }).map((d) => d * DAY_MS) },
  ),
  style: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, fc.constant(1), fc.constant(2)),
  properties: PROPERTIES,
  repeat: fc.option(fc.nat(), { freq: 12 }),
});

/** Events from drafts, their times squeezed into `spanDays` (a year when 365). */
function eventsFrom(drafts: readonly Draft[], leadId: string, prefix: string, spanDays: number): LeadEvent[] {
  const events: LeadEvent[] = [];
  drafts.forEach((d, i) => {
    const at = instant(T0 + Math.round((d.ms * spanDays) / 365), d.style);
    const earlier = d.repeat !== null && events.length > 0 ? events[d.repeat % events.length] : undefined;
    const eventId = earlier?.eventId ?? `${prefix}${String(i).padStart(4, '0')}`;
    events.push({
      eventId,
      leadId,
      type: d.type,
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties: d.properties,
    });
  });
  return events;
}

const lastMs = (events: readonly LeadEvent[], floor: number): number =>
  Math.max(floor, ...events.map((e) => Date.parse(e.occurredAt)));

interface Plan {
  email: string;
  spanDays: number;
  drafts: Draft[];
  sizes: number[];
  /** Per batch: 0 = as of its latest event, >0 later by that much, <0 earlier by that much. */
  offsets: number[];
  models: string[];
  /** Per batch: a sweep this long after it (or none). */
  sweeps: (number | null)[];
  tail: { op: 'rescore' | 'requalify' | 'unresponsive'; afterMs: number; model: string }[];
}

const MODEL_NAMES = ['default', 'keepAll', 'few', 'uncapped', 'fast', 'strict'];

const PLAN = (maxEvents: number): fc.Arbitrary<Plan> =>
  fc.record({
    email: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...EMAILS.filter((e) => !e.includes('hubspot'))) },
      fc.constantFrom(...EMAILS),
    ),
    spanDays: fc.constantFrom(3, 14, 45, 120, 365),
    drafts: fc.array(DRAFT, { maxLength: maxEvents }),
    sizes: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 8 }),
    offsets: fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 120 * DAY_MS }) },
        { weight: 1, arbitrary: fc.integer({ min: -30 * DAY_MS, max: -1 }) },
      ),
      { minLength: 9, maxLength: 9 },
    ),
    models: fc.array(fc.constantFrom(...MODEL_NAMES), { minLength: 9, maxLength: 9 }),
    sweeps: fc.array(fc.option(fc.integer({ min: 0, max: 150 * DAY_MS }), { freq: 3 }), {
      minLength: 9,
      maxLength: 9,
    }),
    tail: fc.array(
      fc.record({
        op: fc.constantFrom('rescore' as const, 'requalify' as const, 'unresponsive' as const),
        afterMs: fc.integer({ min: 0, max: 400 * DAY_MS }),
        model: fc.constantFrom(...MODEL_NAMES),
      }),
      { maxLength: 4 },
    ),
  });

/** A plan made concrete: batches of the events (in arrival order), each as of an instant, then the tail. */
function stepsOf(plan: Plan, events: LeadEvent[], oneModel: boolean): Step[] {
  const steps: Step[] = [];
  let start = 0;
  let nowMs = T0;
  const sizes = [...plan.sizes, events.length];
  for (let b = 0; b < sizes.length && (start < events.length || b === 0); b++) {
    const batch = events.slice(start, start + (sizes[b] ?? events.length));
    start += batch.length;
    const offset = plan.offsets[b] ?? 0;
    nowMs = offset < 0 ? lastMs(batch, T0) + offset : Math.max(nowMs, lastMs(batch, T0)) + offset;
    const model = oneModel ? (plan.models[0] ?? 'default') : (plan.models[b] ?? 'default');
    steps.push({ op: 'apply', model, events: batch, nowMs });
    const sweep = plan.sweeps[b];
    if (sweep !== null && sweep !== undefined && start < events.length) {
      nowMs += sweep;
      steps.push({ op: 'requalify', model, nowMs });
    }
  }
  for (const t of plan.tail) {
    nowMs += t.afterMs;
    steps.push({ op: t.op, model: oneModel ? (plan.models[0] ?? 'default') : t.model, nowMs });
  }
  return steps;
}

/** A lead as an older version might have stored it: contributions without `at`, caps of rules gone or ahead. */
function legacyLead(email: string): Lead {
  const lead = newLead('lead-legacy', email, new Date(T0));
  return {
    ...lead,
    profile: { jobTitle: 'Director of Operations', companySize: '51-200' },
    stage: 'lead',
    stageReason: 'became_lead',
    stageChangedAt: new Date(T0 + DAY_MS).toISOString(),
    leadSince: new Date(T0 + DAY_MS).toISOString(),
    lastActivityAt: new Date(T0 + DAY_MS).toISOString(),
    scores: {
      fit: 28,
      engagement: 12.5,
      total: 40.5,
      grade: 'B',
      contributions: [
        { ruleId: 'title-decision-maker', kind: 'fit', label: 'Decision maker', points: 20 },
        { ruleId: 'old-rule', kind: 'engagement', label: 'An old rule', points: 7, eventId: 'old-1' },
        {
          ruleId: 'email-opened',
          kind: 'engagement',
          label: 'Opened an email',
          points: 1,
          at: new Date(T0 + DAY_MS).toISOString(),
          decayedPoints: 1,
          eventId: 'old-2',
        },
        {
          ruleId: 'content-download',
          kind: 'engagement',
          label: 'Downloaded content',
          points: 5,
          intent: 'low',
          at: new Date(T0 + 0.5 * DAY_MS).toISOString(),
          decayedPoints: 4.9,
          eventId: 'old-3',
        },
      ],
      scoredAt: new Date(T0 + DAY_MS).toISOString(),
      caps: {
        'email-opened': {
          windowStart: new Date(Math.floor((T0 + 40 * DAY_MS) / (7 * DAY_MS)) * 7 * DAY_MS).toISOString(),
          points: 2,
        },
        'no-longer-capped': { windowStart: new Date(T0).toISOString(), points: 3 },
        'demo-requested': { windowStart: new Date(T0).toISOString(), points: 20 },
      },
    },
    version: 3,
  };
}

/** Weekly nurture mail with deliveries, opens and clicks, site visits, the odd demo or bounce (as bench/scoring.ts). */
function nurtureHistory(leadId: string, weeks: number, rnd: () => number): LeadEvent[] {
  const events: LeadEvent[] = [];
  const add = (days: number, type: EventType, properties: EventProperties = {}): void => {
    const at = new Date(T0 + Math.round(days * DAY_MS)).toISOString();
    events.push({
      eventId: `${leadId}-${events.length}`,
      leadId,
      type,
      occurredAt: at,
      receivedAt: at,
      source: 'api',
      properties,
    });
  };
  add(0, 'content_download', { formId: 'ebook', jobTitle: 'VP Operations', companySize: '201-1000', consent: true });
  for (let week = 0; week < weeks; week++) {
    const sent = week * 7 + 1;
    add(sent, 'email_sent');
    add(sent + 0.01, 'email_delivered');
    if (rnd() < 0.5) add(sent + rnd(), 'email_opened', { machine: rnd() < 0.1 });
    if (rnd() < 0.15)
      add(sent + 1, 'email_clicked', { link: rnd() < 0.5 ? 'https://x.io/blog' : 'https://x.io/pricing' });
    if (rnd() < 0.3)
      add(sent + 2, 'page_viewed', { url: rnd() < 0.5 ? 'https://x.io/pricing' : 'https://x.io/blog/p' });
    if (rnd() < 0.05) add(sent + 3, 'email_bounced', { bounceType: 'transient' });
    if (rnd() < 0.02) add(sent + 3, 'webinar_attended');
  }
  if (rnd() < 0.5) add(weeks * 7 - 1, 'demo_requested', { budget: 'yes', timeline: 'this quarter' });
  return events;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The inputs of every case (no results). */
function caseInputs(): Omit<GoldenCase, 'digests' | 'jsonDigests' | 'final'>[] {
  const cases: Omit<GoldenCase, 'digests' | 'jsonDigests' | 'final'>[] = [];
  const plans = fc.sample(PLAN(50), { seed: 20_260_214, numRuns: 300 });
  plans.forEach((plan, i) => {
    const leadId = `lead-${i}`;
    const events = eventsFrom(plan.drafts, leadId, `e${i}-`, plan.spanDays);
    const start = i % 13 === 0 ? legacyLead(plan.email) : newLead(leadId, plan.email, new Date(T0));
    const kind = i % 4;
    if (kind === 0) {
      // Whole history in one call.
      const one = stepsOf({ ...plan, sizes: [] }, events, true);
      cases.push({ name: `random-${i}-whole`, lead: start, steps: one });
    } else if (kind === 1) {
      // One event per call, as the stream mostly does.
      const one = stepsOf({ ...plan, sizes: events.map(() => 1) }, events, true);
      cases.push({ name: `random-${i}-one-by-one`, lead: start, steps: one });
    } else {
      // Random batches, a model change between batches when kind is 3.
      cases.push({ name: `random-${i}-batches`, lead: start, steps: stepsOf(plan, events, kind === 2) });
    }
    if (i % 5 === 0) {
      // The same plan as the stream sees it: every step reads the lead back from storage.
      const stored = stepsOf(
        { ...plan, sizes: plan.sizes.length > 0 ? plan.sizes : events.map(() => 1) },
        events,
        false,
      );
      cases.push({ name: `random-${i}-stored`, lead: start, stored: true, steps: stored });
    }
  });
  const rnd = mulberry32(7);
  for (let i = 0; i < 12; i++) {
    const leadId = `nurture-${i}`;
    const events = nurtureHistory(leadId, i < 10 ? 26 : 300, rnd);
    const endMs = lastMs(events, T0);
    const start = newLead(leadId, EMAILS[i % EMAILS.length] ?? 'pat@acme-builders.com', new Date(T0));
    const model = MODEL_NAMES[i % MODEL_NAMES.length] ?? 'default';
    const steps: Step[] =
      i % 2 === 0
        ? [{ op: 'apply', model, events, nowMs: endMs }]
        : events.map((event) => ({ op: 'apply', model, events: [event], nowMs: Date.parse(event.occurredAt) }));
    steps.push({ op: 'requalify', model, nowMs: endMs + 100 * DAY_MS });
    cases.push({ name: `nurture-${i}-${i % 2 === 0 ? 'whole' : 'one-by-one'}`, lead: start, steps });
  }
  return cases;
}

/** Runs a case's steps, each on the lead the previous one returned; returns each step's result. */
export function runSteps(
  lead: Lead,
  steps: readonly Step[],
  models: Record<string, ScoringModel>,
  stored = false,
): unknown[] {
  const results: unknown[] = [];
  let current = lead;
  for (const step of steps) {
    if (stored) current = Lead.parse(JSON.parse(JSON.stringify(current)));
    const model = models[step.model];
    if (model === undefined) throw new Error(`unknown model ${step.model}`);
    const now = new Date(step.nowMs);
    const result =
      step.op === 'apply'
        ? applyEvents(current, step.events, model, now)
        : step.op === 'rescore'
          ? rescore(current, model, now)
          : step.op === 'requalify'
            ? requalify(current, model, now)
            : markUnresponsive(current, model, now);
    results.push(result);
    current = result.lead;
  }
  return results;
}

/**
 * A canonical text of a value: keys sorted, `undefined` members and `-0` spelled out (JSON would drop or fold them),
 * numbers in JavaScript's shortest round-trip form, so equal texts mean bit-for-bit equal values.
 */
export function canonical(value: unknown): string {
  if (value === undefined) return '{"$undefined":true}';
  if (typeof value === 'number') return Object.is(value, -0) ? '{"$number":"-0"}' : JSON.stringify(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);
export const digest = (value: unknown): string => sha(canonical(value));
export const jsonDigest = (value: unknown): string => sha(JSON.stringify(value));

export function readGolden(): { golden: Golden; models: Record<string, ScoringModel> } {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as Golden;
  const models = Object.fromEntries(Object.entries(golden.models).map(([name, m]) => [name, parseModel(m)]));
  return { golden, models };
}

function writeGolden(): void {
  const models = goldenModels();
  const cases: GoldenCase[] = caseInputs().map(({ name, lead, stored, steps }) => {
    const results = runSteps(lead, steps, models, stored);
    return {
      name,
      lead,
      ...(stored && { stored }),
      steps,
      digests: results.map(digest),
      jsonDigests: results.map(jsonDigest),
      final: JSON.parse(canonical(results.at(-1))),
    };
  });
  const golden: Golden = { models, cases };
  writeFileSync(GOLDEN_PATH, `${JSON.stringify(golden)}\n`);
  const steps = cases.reduce((n, c) => n + c.steps.length, 0);
  console.log(`wrote ${cases.length} cases, ${steps} steps to ${GOLDEN_PATH.pathname}`);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) writeGolden();
