import { assertNever } from '../errors.js';
import type { EventProperties, EventType, LeadEvent } from '../events.js';
import {
  BANT_FIELDS,
  PROFILE_FIELDS,
  type Attribution,
  type Bant,
  type Consent,
  type Lead,
  type Profile,
  type Suppression,
} from '../lead.js';
import { bounceTypeOf, isMachine } from './engagement.js';

/**
 * Whether an event is something the lead did. Sends, deliveries and delivery failures are ours, sales' verdicts
 * are sales', and machine-flagged opens and clicks are a scanner's: none of them keeps a lead from going dormant.
 */
export function isLeadActivity(event: LeadEvent): boolean {
  return isActivityType(event.type) && !isMachine(event);
}

function isActivityType(type: EventType): boolean {
  switch (type) {
    case 'email_sent':
    case 'email_delivered':
    case 'email_bounced':
    case 'email_rejected':
    case 'email_delivery_delayed':
    case 'email_rendering_failed':
    case 'sales_accepted':
    case 'sales_rejected':
      return false;
    case 'form_submitted':
    case 'newsletter_signup':
    case 'content_download':
    case 'webinar_registered':
    case 'webinar_attended':
    case 'demo_requested':
    case 'discovery_call_booked':
    case 'discovery_call_attended':
    case 'page_viewed':
    case 'pricing_page_viewed':
    case 'chatbot_interaction':
    case 'trial_started':
    case 'product_used':
    case 'opportunity_created':
    case 'purchase':
    case 'email_opened':
    case 'email_clicked':
    case 'email_complained':
    case 'email_unsubscribed':
    case 'consent_confirmed':
      return true;
    default:
      return assertNever(type);
  }
}

/**
 * What an event says about the lead, apart from scores and stage: profile and BANT answers, consent, attribution,
 * suppression and the last activity time. Returns the same sub-objects when they did not change.
 */
export function applyEventEffects(lead: Lead, event: LeadEvent, atMs: number): Lead {
  const p = event.properties;
  const consent = keepConfirmed(lead.consent, consentFrom(event));
  const newerConsent = consent && (!lead.consent || Date.parse(lead.consent.at) <= Date.parse(consent.at));
  return {
    ...lead,
    profile: withStrings(lead.profile, PROFILE_FIELDS, p),
    bant: withStrings(lead.bant, BANT_FIELDS, p),
    ...(newerConsent && { consent }),
    attribution: attributionWith(lead.attribution, p),
    suppression: suppressionWith(lead.suppression, event),
    lastActivityAt:
      isLeadActivity(event) && atMs > Date.parse(lead.lastActivityAt)
        ? new Date(atMs).toISOString()
        : lead.lastActivityAt,
  };
}

/** Copies non-empty string properties named like the fields; keeps `target` itself when nothing changes. */
function withStrings<T extends Profile | Bant>(
  target: T,
  fields: readonly (keyof T & string)[],
  p: EventProperties,
): T {
  let result = target;
  for (const field of fields) {
    const raw = p[field];
    const value = typeof raw === 'string' ? raw.trim() : '';
    if (value && result[field] !== value) result = { ...result, [field]: value };
  }
  return result;
}

function consentFrom(event: LeadEvent): Consent | undefined {
  const { consent, formId, ip, consentConfirmation } = event.properties;
  if (typeof consent !== 'boolean') return undefined;
  return {
    marketing: consent,
    at: event.occurredAt,
    source: typeof formId === 'string' ? formId : event.source,
    ...(typeof ip === 'string' && { ip }),
    ...(consent && consentConfirmation === 'pending' && { confirmation: 'pending' as const }),
    ...(consent &&
      consentConfirmation === 'confirmed' && { confirmation: 'confirmed' as const, confirmedAt: event.occurredAt }),
  };
}

/**
 * Consent given again on a form stays confirmed once the person confirmed it (no second confirmation needed), and a
 * confirmation confirms the consent as given (its source and time stay those of the form).
 */
function keepConfirmed(current: Consent | undefined, next: Consent | undefined): Consent | undefined {
  if (next?.confirmation === 'confirmed' && current?.marketing) {
    return { ...current, confirmation: 'confirmed', ...(next.confirmedAt && { confirmedAt: next.confirmedAt }) };
  }
  if (next?.confirmation !== 'pending' || !current?.marketing || current.confirmation === 'pending') return next;
  const { confirmation: _pending, ...rest } = next;
  return {
    ...rest,
    ...(current.confirmation && { confirmation: current.confirmation }),
    ...(current.confirmedAt && { confirmedAt: current.confirmedAt }),
  };
}

function attributionWith(attribution: Attribution, p: EventProperties): Attribution {
  const formId = typeof p.formId === 'string' && p.formId ? p.formId : undefined;
  const utm = utmOf(p);
  if (formId === undefined && utm === undefined) return attribution;
  return {
    ...attribution,
    ...(formId !== undefined && { firstForm: attribution.firstForm ?? formId, lastForm: formId }),
    ...(utm !== undefined && { firstUtm: attribution.firstUtm ?? utm, lastUtm: utm }),
  };
}

function utmOf(p: EventProperties): Record<string, string> | undefined {
  const entries = Object.entries(p).filter(
    (entry): entry is [string, string] => entry[0].startsWith('utm_') && typeof entry[1] === 'string' && !!entry[1],
  );
  return entries.length ? Object.fromEntries(entries) : undefined;
}

function suppressionWith(suppression: Suppression, event: LeadEvent): Suppression {
  switch (event.type) {
    case 'email_unsubscribed':
      return { ...suppression, unsubscribed: true };
    case 'email_complained':
      return { ...suppression, complained: true };
    case 'email_bounced':
      return bounceTypeOf(event.properties) === 'permanent'
        ? { ...suppression, hardBounced: true }
        : { ...suppression, transientBounces: suppression.transientBounces + 1 };
    case 'email_delivered':
    case 'email_opened':
    case 'email_clicked':
      return suppression.transientBounces === 0 ? suppression : { ...suppression, transientBounces: 0 };
    default:
      return suppression;
  }
}
