import type { Bant, Profile } from './lead.js';

/** The UTM parameters a lead's attribution keeps (first and last touch); other `utm_*` properties stay on the event. */
export const UTM_FIELDS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const;
export type UtmField = (typeof UTM_FIELDS)[number];

/**
 * The longest value (in UTF-16 code units, as zod's `max` counts) of each event property that is copied onto the
 * lead item: the landing-page form's limits, applied to every source of events (forms, `POST /events`, stored
 * history), so what a lead item holds is bounded whatever its history and stays well under DynamoDB's 400 KB.
 */
export const LEAD_FIELD_LIMITS = {
  firstName: 100,
  lastName: 100,
  company: 200,
  jobTitle: 200,
  companySize: 50,
  industry: 100,
  country: 100,
  phone: 50,
  timeZone: 64,
  budget: 200,
  authority: 200,
  need: 2000,
  timeline: 200,
  utm_source: 200,
  utm_medium: 200,
  utm_campaign: 200,
  utm_term: 200,
  utm_content: 200,
  /** Attribution (first and last form) and the consent's source. */
  formId: 100,
  /** The consent's IP address (an IPv6 address is at most 45 characters). */
  ip: 64,
} as const satisfies Record<keyof Profile | keyof Bant | UtmField | 'formId' | 'ip', number>;
export type LeadField = keyof typeof LEAD_FIELD_LIMITS;

const isLeadField = (name: string): name is LeadField => Object.hasOwn(LEAD_FIELD_LIMITS, name);

/**
 * The property's value if a lead field may hold it: a string no longer than the field's limit (as sent, before any
 * trimming), else undefined. The edge rejects longer values; an event stored before the limits may still hold one.
 */
export function withinLimit(field: LeadField, raw: unknown): string | undefined {
  return typeof raw === 'string' && raw.length <= LEAD_FIELD_LIMITS[field] ? raw : undefined;
}

/**
 * Properties that name a lead field but could never be copied onto it (over the field's limit), by name → reason:
 * what the edge rejects, so an accepted event is always applied as sent.
 */
export function leadFieldIssues(properties: Readonly<Record<string, unknown>>): Record<string, string> {
  const issues: Record<string, string> = {};
  for (const [name, raw] of Object.entries(properties)) {
    if (!isLeadField(name) || typeof raw !== 'string') continue;
    const max = LEAD_FIELD_LIMITS[name];
    if (raw.length > max) issues[name] = `is longer than ${max} characters`;
  }
  return issues;
}
