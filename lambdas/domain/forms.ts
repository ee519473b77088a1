import * as z from 'zod';
import type { EventType } from './events.js';
import { Email } from './identity.js';
import { LEAD_FIELD_LIMITS as MAX, UTM_FIELDS } from './lead-fields.js';

/** What a landing-page form records when submitted (DESIGN §4: a form maps to events by its configuration). */
export interface FormDefinition {
  eventType: EventType;
  description: string;
  /**
   * Confirmed opt-in (DESIGN §6): marketing consent given on this form counts once the person confirms it from the
   * confirmation mail. Set `false` for a form whose consent is documented otherwise (the deployment-wide switch is the
   * CDK context `confirmedOptIn`). @default true
   */
  confirmOptIn?: boolean;
}

/** The forms a landing page may post to. Add a form here to accept `POST /forms/<id>`. */
export const FORMS = {
  newsletter: { eventType: 'newsletter_signup', description: 'Newsletter signup' },
  'content-download': { eventType: 'content_download', description: 'Gated content (guide, e-book, report)' },
  'webinar-registration': { eventType: 'webinar_registered', description: 'Webinar registration' },
  'demo-request': { eventType: 'demo_requested', description: 'Demo request' },
  'discovery-call': { eventType: 'discovery_call_booked', description: 'Discovery call booking' },
  contact: { eventType: 'form_submitted', description: 'Contact form' },
} as const satisfies Record<string, FormDefinition>;

export type FormId = keyof typeof FORMS;

/** Whether consent given on the form needs confirming (see `FormDefinition.confirmOptIn`). */
export const confirmsOptIn = (formId: FormId): boolean => (FORMS[formId] as FormDefinition).confirmOptIn !== false;
export const isFormId = (id: string): id is FormId => Object.hasOwn(FORMS, id);

/** A single-line text field: no control characters (CR/LF header injection), bounded length, trimmed. */
const line = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `is longer than ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters or line breaks')
    .refine((s) => s.isWellFormed(), 'is not well-formed Unicode text')
    .transform((s) => s.trim())
    .optional();

/** A multi-line text field: line breaks allowed, other control characters not. */
const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `is longer than ${max} characters`)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/, 'must not contain control characters')
    .refine((s) => s.isWellFormed(), 'is not well-formed Unicode text')
    .transform((s) => s.trim())
    .optional();

/** Checkbox values as browsers and JSON clients send them. */
const checkbox = z
  .union([z.boolean(), z.enum(['yes', 'no', 'on', 'off', 'true', 'false', '1', '0', ''])], {
    error: 'must be yes/no, on/off, true/false or 1/0',
  })
  .transform((v) => v === true || v === 'yes' || v === 'on' || v === 'true' || v === '1')
  .optional();

/**
 * The body of `POST /forms/{formId}` (JSON or urlencoded). Unknown fields are rejected so a typo in a landing page
 * is seen at once rather than silently dropped.
 */
export const FormSubmission = z.strictObject(
  {
    email: Email,
    firstName: line(MAX.firstName),
    lastName: line(MAX.lastName),
    company: line(MAX.company),
    jobTitle: line(MAX.jobTitle),
    companySize: line(MAX.companySize),
    industry: line(MAX.industry),
    country: line(MAX.country),
    phone: line(MAX.phone),
    timeZone: line(MAX.timeZone),
    budget: line(MAX.budget),
    authority: line(MAX.authority),
    need: text(MAX.need),
    timeline: line(MAX.timeline),
    message: text(4000),
    consent: checkbox,
    /** Honeypot: people leave it empty; bots fill it. */
    website: z.string({ error: 'must be a string' }).max(500).optional(),
    /** Where a plain HTML form returns to (must be on an allowed origin; checked by the handler). */
    redirect: z
      .string({ error: 'must be a string' })
      .max(2000, 'is longer than 2000 characters')
      // eslint-disable-next-line no-control-regex
      .regex(/^[^\u0000-\u0020\u007f-\u009f\\]*$/, 'must be a URL without spaces, control characters or backslashes')
      .refine((s) => s.isWellFormed(), 'is not well-formed Unicode text')
      .optional(),
    ...Object.fromEntries(UTM_FIELDS.map((f) => [f, line(MAX[f])])),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? 'is not a known field' : undefined) },
);
export type FormSubmission = z.infer<typeof FormSubmission>;

/** The fields of a submission that are stored on its event (everything but the honeypot and the redirect). */
export function submissionProperties(s: FormSubmission): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'website' || k === 'redirect' || k === 'email') continue;
    if (typeof v === 'string' && v !== '') out[k] = v;
    if (typeof v === 'boolean') out[k] = v;
  }
  return out;
}
