import { assertNever } from '../errors.js';
import type { EventProperties, EventType, LeadEvent } from '../events.js';
import { BANT_FIELDS, PROFILE_FIELDS, type Consent } from '../lead.js';
import { parseInstant } from '../instant.js';
import { UTM_FIELDS, withinLimit, type LeadField, type UtmField } from '../lead-fields.js';
import type { LeadDraft } from './draft.js';
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
    case 'touch_held_out':
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
 * suppression and the last activity time, written to the run's draft of the lead (`eventMs`: when the event says it
 * happened; `atMs`: the same, capped at the run's "now"). Returns whether the profile or BANT answers changed.
 */
export function applyEventEffects(draft: LeadDraft, event: LeadEvent, eventMs: number, atMs: number): boolean {
  const p = event.properties;
  const fresh = consentFrom(event);
  const consent = keepConfirmed(draft.consent, fresh);
  const consentAtMs = draft.consentAtMs();
  const newerConsent = consent !== undefined && (consentAtMs === undefined || consentAtMs <= eventMs);
  const seen = propertiesSeen(p);
  const profileChanged =
    (seen & LEAD_FIELD) !== 0 &&
    (copyStrings(draft, 'profile', PROFILE_FIELDS, p) | copyStrings(draft, 'bant', BANT_FIELDS, p)) !== 0;
  if (newerConsent) draft.setConsent(consent, consent === fresh ? eventMs : parseInstant(consent.at));
  draft.noteEffects(newerConsent);
  if ((seen & ATTRIBUTION) !== 0) attribute(draft, p);
  suppress(draft, event);
  if (isLeadActivity(event) && atMs > draft.lastActivityAtMs) draft.setLastActivityAt(atMs);
  return profileChanged;
}

const LEAD_FIELD = 1;
const ATTRIBUTION = 2;
const LEAD_FIELDS: ReadonlySet<string> = new Set([...PROFILE_FIELDS, ...BANT_FIELDS]);

/** Which kinds of property the event carries (most carry none): lead fields, a form id or UTM parameters. */
function propertiesSeen(p: EventProperties): number {
  let seen = 0;
  for (const key in p) {
    if (LEAD_FIELDS.has(key)) seen |= LEAD_FIELD;
    else if (key === 'formId' || key.startsWith('utm_')) seen |= ATTRIBUTION;
  }
  return seen;
}

/**
 * Copies non-empty string properties named like the fields, within the fields' limits (a longer value, which the
 * edge rejects but an older stored event may hold, is not copied); 1 if any changed.
 */
function copyStrings<K extends 'profile' | 'bant'>(
  draft: LeadDraft,
  target: K,
  fields: readonly (keyof LeadDraft[K] & LeadField & string)[],
  p: EventProperties,
): number {
  let changed = 0;
  for (const field of fields) {
    const value = withinLimit(field, p[field])?.trim();
    if (!value || draft[target][field] === value) continue;
    const writable: Record<string, string | undefined> =
      target === 'profile' ? draft.writableProfile() : draft.writableBant();
    writable[field] = value;
    changed = 1;
  }
  return changed;
}

function consentFrom(event: LeadEvent): Consent | undefined {
  const { consent, consentConfirmation } = event.properties;
  if (typeof consent !== 'boolean') return undefined;
  const formId = withinLimit('formId', event.properties.formId);
  const ip = withinLimit('ip', event.properties.ip);
  return {
    marketing: consent,
    at: event.occurredAt,
    source: formId ?? event.source,
    ...(ip !== undefined && { ip }),
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

function attribute(draft: LeadDraft, p: EventProperties): void {
  const formId = withinLimit('formId', p.formId) || undefined;
  const utm = utmOf(p);
  if (formId === undefined && utm === undefined) return;
  const attribution = draft.writableAttribution();
  if (formId !== undefined) {
    attribution.firstForm = attribution.firstForm ?? formId;
    attribution.lastForm = formId;
  }
  if (utm !== undefined) {
    attribution.firstUtm = attribution.firstUtm ?? utm;
    attribution.lastUtm = utm;
  }
}

/** The event's UTM parameters the lead keeps (the whitelist, within its limits); other `utm_*` stay on the event. */
function utmOf(p: EventProperties): Record<string, string> | undefined {
  const entries = Object.entries(p).filter(
    (entry): entry is [string, string] => isUtmField(entry[0]) && !!withinLimit(entry[0], entry[1]),
  );
  return entries.length ? Object.fromEntries(entries) : undefined;
}

const isUtmField = (name: string): name is UtmField => (UTM_FIELDS as readonly string[]).includes(name);

function suppress(draft: LeadDraft, event: LeadEvent): void {
  switch (event.type) {
    case 'email_unsubscribed':
      draft.writableSuppression().unsubscribed = true;
      return;
    case 'email_complained':
      draft.writableSuppression().complained = true;
      return;
    case 'email_bounced':
      if (bounceTypeOf(event.properties) === 'permanent') draft.writableSuppression().hardBounced = true;
      else draft.writableSuppression().transientBounces = draft.suppression.transientBounces + 1;
      return;
    case 'email_delivered':
    case 'email_opened':
    case 'email_clicked':
      if (draft.suppression.transientBounces !== 0) draft.writableSuppression().transientBounces = 0;
      return;
    default:
      return;
  }
}
