import fc from 'fast-check';
import { DAY_MS } from '../../../lambdas/domain/clock.js';
import type { EventProperties, EventType, LeadEvent } from '../../../lambdas/domain/events.js';
import type { LeadLog } from '../../../lambdas/domain/model-lab/replay.js';

/** Day 0 of every generated history. */
export const T0 = Date.parse('2025-01-06T09:00:00.000Z');

/** What a lead does before sales hears of it: the types the scoring model reacts to, with their usual properties. */
const ACTIVITY: readonly [EventType, fc.Arbitrary<EventProperties>][] = [
  [
    'content_download',
    fc.record(
      {
        formId: fc.constantFrom('ebook', 'guide'),
        jobTitle: fc.constantFrom('CEO', 'Marketing Intern', 'Freelance designer', 'Project Manager', 'VP Sales'),
        companySize: fc.constantFrom('1-10', '51-200', '201-1000', '5000+'),
        industry: fc.constantFrom('Healthcare', 'Retail', 'Construction'),
        budget: fc.constantFrom('$50k', 'no budget', 'yes'),
        authority: fc.constantFrom('yes', 'no'),
        need: fc.constantFrom('faster follow-up', 'none'),
        timeline: fc.constantFrom('this quarter', 'just researching', '6 months'),
      },
      { requiredKeys: [] },
    ),
  ],
  ['newsletter_signup', fc.constant({})],
  ['webinar_registered', fc.constant({})],
  ['webinar_attended', fc.constant({})],
  [
    'demo_requested',
    fc.record({ budget: fc.constantFrom('yes', '$20k'), timeline: fc.constant('this quarter') }, { requiredKeys: [] }),
  ],
  ['discovery_call_booked', fc.constant({})],
  ['pricing_page_viewed', fc.constant({})],
  [
    'page_viewed',
    fc.record({ url: fc.constantFrom('https://x.io/pricing', 'https://x.io/blog/a', 'https://x.io/case-studies/b') }),
  ],
  ['email_sent', fc.constant({})],
  ['email_delivered', fc.constant({})],
  ['email_opened', fc.record({ machine: fc.boolean() }, { requiredKeys: [] })],
  ['email_clicked', fc.record({ link: fc.constantFrom('https://x.io/demo', 'https://x.io/blog') })],
  ['email_bounced', fc.record({ bounceType: fc.constantFrom('permanent', 'transient') })],
  ['email_unsubscribed', fc.constant({})],
  ['trial_started', fc.constant({})],
  ['form_submitted', fc.record({ formId: fc.constantFrom('contact', 'newsletter') })],
];

const OUTCOMES: readonly EventType[] = ['sales_accepted', 'sales_rejected', 'opportunity_created', 'purchase'];

/** One event `days` after day 0 (minutes resolution, so instants rarely tie but sometimes do). */
const eventAt = (
  leadId: string,
  index: number,
  type: EventType,
  minutes: number,
  properties: EventProperties,
): LeadEvent => {
  const at = new Date(T0 + minutes * 60_000).toISOString();
  return {
    eventId: `${leadId}-e${String(index).padStart(3, '0')}`,
    leadId,
    type,
    occurredAt: at,
    receivedAt: at,
    source: 'api',
    properties,
  };
};

const activity = fc.oneof(...ACTIVITY.map(([type, props]) => props.map((p) => [type, p] as const)));

/** A lead's history over up to 120 days of activity, and (usually) one or two sales outcomes from day 10 to 150. */
export function leadLog(leadId: string, { outcomes = true } = {}): fc.Arbitrary<LeadLog> {
  return fc
    .record({
      domain: fc.constantFrom('acme-builders.com', 'gmail.com', 'mercyhealth.org', 'hubspot.com'),
      acts: fc.array(fc.tuple(activity, fc.integer({ min: 0, max: 120 * 24 * 60 })), {
        minLength: 2,
        maxLength: 30,
        size: 'max',
      }),
      verdicts: fc.array(
        fc.tuple(fc.constantFrom(...OUTCOMES), fc.integer({ min: 10 * 24 * 60, max: 150 * 24 * 60 })),
        {
          minLength: 0,
          maxLength: outcomes ? 2 : 0,
        },
      ),
    })
    .map(({ domain, acts, verdicts }) => {
      const events = [
        ...acts.map(([[type, p], minutes], i) => eventAt(leadId, i, type, minutes, p)),
        ...verdicts.map(([type, minutes], i) => eventAt(leadId, 100 + i, type, minutes, {})),
      ];
      return { lead: { leadId, email: `pat.${leadId}@${domain}`, createdAt: new Date(T0).toISOString() }, events };
    });
}

/** Several leads with distinct ids. */
export const leadLogs = (max: number): fc.Arbitrary<LeadLog[]> =>
  fc.integer({ min: 1, max }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => leadLog(`lead-${i}`))));

export const DAY = DAY_MS;
