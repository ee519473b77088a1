import type { LeadEvent } from '../../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../../lambdas/domain/lead.js';

export const NOW = new Date('2026-03-02T15:00:00.000Z'); // a Monday

/** A consenting, unsuppressed lead in UTC. */
export function lead(overrides: Partial<Lead> = {}): Lead {
  const base = newLead('01JLEAD0000000000000000000', 'ada@example-corp.com', new Date('2026-02-01T00:00:00Z'));
  return {
    ...base,
    consent: { marketing: true, at: '2026-02-01T00:00:00.000Z', source: 'form:newsletter' },
    ...overrides,
    profile: { timeZone: 'UTC', ...overrides.profile },
  };
}

let n = 0;
/** An event of the lead's log. */
export function event(
  type: LeadEvent['type'],
  occurredAt: string,
  properties: LeadEvent['properties'] = {},
  source: LeadEvent['source'] = 'ses',
): LeadEvent {
  n++;
  return {
    eventId: `e-${n}`,
    leadId: '01JLEAD0000000000000000000',
    type,
    occurredAt,
    receivedAt: occurredAt,
    source,
    properties,
  };
}

export const sent = (occurredAt: string, properties: LeadEvent['properties'] = {}): LeadEvent =>
  event('email_sent', occurredAt, { track: 'newsletter', touch: 1, ...properties }, 'nurture');
