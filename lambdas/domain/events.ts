import * as z from 'zod';

/** Every activity type Leadloop understands (DESIGN §4). The scoring model refers to these names. */
export const EVENT_TYPES = [
  'form_submitted',
  'newsletter_signup',
  'content_download',
  'webinar_registered',
  'webinar_attended',
  'demo_requested',
  'discovery_call_booked',
  'discovery_call_attended',
  'page_viewed',
  'pricing_page_viewed',
  'chatbot_interaction',
  'trial_started',
  'product_used',
  'opportunity_created',
  'purchase',
  'sales_accepted',
  'sales_rejected',
  'email_sent',
  'email_delivered',
  'email_opened',
  'email_clicked',
  'email_bounced',
  'email_complained',
  'email_unsubscribed',
  'email_rejected',
  'email_delivery_delayed',
  'email_rendering_failed',
  // The person confirmed the marketing consent they gave (the link of the confirmation mail, issue 12).
  'consent_confirmed',
  // A held-out lead's touch went by without mail (a track's holdout, issue 16): nurture's record, never the person's.
  'touch_held_out',
] as const;

export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

/** Where an event entered the system. */
export const EventSource = z.enum(['form', 'api', 'ses', 'nurture', 'system']);
export type EventSource = z.infer<typeof EventSource>;

/** Numbers DynamoDB stores exactly as JavaScript sent them: finite, integers no larger than 2^53, no tiny magnitudes. */
const StorableNumber = z
  .number()
  .refine((n) => Number.isFinite(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER && (n === 0 || Math.abs(n) >= 1e-100), {
    error: 'must be a finite number between -2^53 and 2^53',
  });

/** Text as given, but well-formed: a lone UTF-16 surrogate cannot be stored or sent as UTF-8. */
const StorableText = z
  .string()
  .max(2048, 'is longer than 2048 characters')
  .refine((s) => s.isWellFormed(), { error: 'is not well-formed Unicode text' });

/**
 * Free-form event properties: scalar values only, so they can be filtered on and stored as given. Names are plain
 * identifiers (no `__proto__`/`constructor` games with the objects they become).
 */
export const EventProperties = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/, 'property names are letters, digits, _ . : - (up to 64)')
      // `constructor`, `toString`…: an object with such an own key is no longer a plain map to serializers.
      .refine((k) => !(k in Object.prototype), { error: 'is a reserved property name' }),
    z.union([StorableText, StorableNumber, z.boolean(), z.null()]),
  )
  .refine((p) => Object.keys(p).length <= 50, { error: 'has more than 50 properties' });
export type EventProperties = z.infer<typeof EventProperties>;

/** One entry of a lead's append-only activity log. */
export const LeadEvent = z.object({
  eventId: z.string().min(1).max(128),
  leadId: z.string().min(1),
  type: EventType,
  /** When it happened (ISO-8601, UTC). */
  occurredAt: z.iso.datetime(),
  /** When Leadloop recorded it (ISO-8601, UTC). */
  receivedAt: z.iso.datetime(),
  source: EventSource,
  properties: EventProperties,
});
export type LeadEvent = z.infer<typeof LeadEvent>;

/** Events nurture records about its own bookkeeping: never something the person did (no score, no activity). */
export const NURTURE_RECORD_TYPES: readonly EventType[] = ['touch_held_out'];

/** True for the email engagement types that SES reports. */
export const isEmailEvent = (type: EventType): boolean => type.startsWith('email_');
