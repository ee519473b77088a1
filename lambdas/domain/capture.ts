import { v5 as uuidv5 } from 'uuid';
import * as z from 'zod';
import type { Clock } from './clock.js';
import { EventProperties, EventType, type EventSource, type LeadEvent } from './events.js';
import { confirmsOptIn, FORMS, submissionProperties, type FormId, type FormSubmission } from './forms.js';
import { Email } from './identity.js';
import { newLead } from './lead.js';
import { leadFieldIssues } from './lead-fields.js';
import { ValidationError } from './errors.js';
import type { LeadRepository } from './ports.js';

/** Namespace of Leadloop's derived (uuidv5) ids. Never change it: stored event ids depend on it. */
export const LEADLOOP_NAMESPACE = '5b0d2c7e-6f0e-4b8e-9a57-2f3c1d4e8a90';

export interface CaptureDeps {
  leads: LeadRepository;
  clock: Clock;
  /** A new lead id (ULID) for a lead first seen at `at`. */
  newLeadId: (at: Date) => string;
  /**
   * Confirmed opt-in for the deployment (the CDK context `confirmedOptIn`, on by default there): consent given on a
   * form that confirms opt-in stays pending until the person confirms it. @default false
   */
  confirmedOptIn?: boolean;
}

/** JSON with sorted keys, so equal content always hashes to the same id. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The lead id for an address: the registered one, or a new lead created with its identity in one transaction.
 * `undefined` if the address was erased/suppressed for good and must not be re-added.
 */
async function leadIdFor(deps: CaptureDeps, email: string, at: Date): Promise<string | undefined> {
  const existing = await deps.leads.findLeadIdByEmail(email);
  if (existing) return existing;
  if (await deps.leads.isSuppressed(email)) return undefined;
  const { leadId } = await deps.leads.createLead({ ...newLead(deps.newLeadId(at), email, at), activity: {} });
  return leadId;
}

export type CaptureOutcome = 'recorded' | 'duplicate' | 'suppressed';

/**
 * Records a landing-page form submission as its form's event. The event id is derived from the Idempotency-Key when
 * given, else from the form, address, content and UTC day, so a retried or double-clicked submission counts once.
 */
export async function captureForm(
  deps: CaptureDeps,
  cmd: { formId: FormId; submission: FormSubmission; idempotencyKey?: string; ip?: string },
): Promise<{ leadId: string | undefined; outcome: CaptureOutcome; confirmation?: 'requested' }> {
  const now = deps.clock.now();
  const { email } = cmd.submission;
  const leadId = await leadIdFor(deps, email, now);
  if (!leadId) return { leadId: undefined, outcome: 'suppressed' };
  const pending = await consentPending(deps, cmd.formId, cmd.submission, leadId);
  const properties = {
    ...submissionProperties(cmd.submission),
    formId: cmd.formId,
    ...(cmd.ip ? { ip: cmd.ip } : {}),
    ...(pending ? { consentConfirmation: 'pending' } : {}),
  };
  const eventId = cmd.idempotencyKey
    ? uuidv5(`form|${cmd.formId}|key|${cmd.idempotencyKey}`, LEADLOOP_NAMESPACE)
    : uuidv5(
        `form|${cmd.formId}|${email}|${now.toISOString().slice(0, 10)}|${canonical(submissionProperties(cmd.submission))}`,
        LEADLOOP_NAMESPACE,
      );
  const iso = now.toISOString();
  const outcome = await deps.leads.appendEvent({
    eventId,
    leadId,
    type: FORMS[cmd.formId].eventType,
    occurredAt: iso,
    receivedAt: iso,
    source: 'form',
    properties,
  });
  // Erased between the lookup and the write: the address is suppressed now, and nothing was written.
  if (outcome === 'gone') return { leadId: undefined, outcome: 'suppressed' };
  return { leadId, outcome, ...(pending && outcome === 'recorded' ? { confirmation: 'requested' as const } : {}) };
}

/** True when the consent given now must wait for the person's confirmation (and was not confirmed before). */
async function consentPending(
  deps: CaptureDeps,
  formId: FormId,
  submission: FormSubmission,
  leadId: string,
): Promise<boolean> {
  if (submission.consent !== true || deps.confirmedOptIn !== true || !confirmsOptIn(formId)) return false;
  const consent = (await deps.leads.getLead(leadId))?.consent;
  return !(consent?.marketing === true && consent.confirmation !== 'pending');
}

/** One event of `POST /events`. */
export const ApiEvent = z
  .strictObject({
    eventId: z
      .string({ error: 'must be a string' })
      .min(1, 'must not be empty')
      .max(128, 'is longer than 128 characters')
      .regex(/^[\w.:-]+$/, 'may contain only letters, digits and . _ : -')
      .optional(),
    email: Email.optional(),
    leadId: z
      .string({ error: 'must be a string' })
      .regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'is not a lead id')
      .optional(),
    // A confirmation comes only from the confirmation link (POST /confirm), never from a site backend.
    type: EventType.exclude(['consent_confirmed', 'touch_held_out'], { error: 'is not an event type a site can send' }),
    occurredAt: z.iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time' }).optional(),
    properties: EventProperties.optional(),
  })
  .refine((e) => e.email !== undefined || e.leadId !== undefined, { error: 'needs email or leadId', path: ['email'] });
export type ApiEvent = z.infer<typeof ApiEvent>;

export const EventBatch = z.strictObject({
  events: z
    .array(z.unknown(), { error: 'must be an array' })
    .min(1, 'must hold at least one event')
    .max(100, 'holds more than 100 events'),
});

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: { index: number; error: string }[];
}

/** Allowed clock skew for client timestamps. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * An event with neither `eventId` nor `occurredAt` is identified by its content and the UTC window it arrived in:
 * a client's retry within the window is a duplicate (a second identical event in it counts once too). README
 * "Sending events" and the OpenAPI document say so.
 */
export const IMPLICIT_ID_WINDOW_MS = 15 * 60_000;

/** The start of the implicit-id window `at` falls in. */
export const implicitIdWindow = (at: Date): string =>
  new Date(Math.floor(at.getTime() / IMPLICIT_ID_WINDOW_MS) * IMPLICIT_ID_WINDOW_MS).toISOString();

/**
 * Records a batch of web/product events. Each event is validated on its own: a bad one is rejected with its index
 * and reason, the others are recorded. Without an eventId the id is derived from the event's content (and
 * `occurredAt`, or else the {@link IMPLICIT_ID_WINDOW_MS} window it arrived in), so a retry is a duplicate.
 */
export async function ingestEvents(
  deps: CaptureDeps,
  events: unknown[],
  source: EventSource = 'api',
): Promise<IngestResult> {
  rejectUnappliable(events);
  const result: IngestResult = { accepted: 0, duplicates: 0, rejected: [] };
  const now = deps.clock.now();
  for (const [index, raw] of events.entries()) {
    const parsed = ApiEvent.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : (issue?.path.join('.') ?? '');
      const reason = issue?.code === 'unrecognized_keys' ? 'is not a known field' : (issue?.message ?? 'is invalid');
      result.rejected.push({ index, error: field ? `${field}: ${reason}` : reason });
      continue;
    }
    const e = parsed.data;
    const occurredAt = e.occurredAt ? new Date(e.occurredAt) : now;
    if (occurredAt.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) {
      result.rejected.push({ index, error: 'occurredAt: is in the future' });
      continue;
    }
    let leadId: string | undefined;
    if (e.leadId) {
      const lead = await deps.leads.getLead(e.leadId);
      if (!lead || (e.email !== undefined && lead.email !== e.email)) {
        result.rejected.push({ index, error: lead ? 'email: does not match leadId' : 'leadId: no such lead' });
        continue;
      }
      leadId = lead.leadId;
    } else if (e.email) {
      leadId = await leadIdFor(deps, e.email, occurredAt);
      if (!leadId) {
        result.rejected.push({ index, error: 'email: is suppressed' });
        continue;
      }
    }
    if (!leadId) continue;
    // Without an id, an event that says when it happened is identified by that instant; one that does not, by the
    // window it arrived in (the arrival instant would make every retry a new event).
    const eventId =
      e.eventId ??
      uuidv5(
        e.occurredAt
          ? `api|${leadId}|${e.type}|${occurredAt.toISOString()}|${canonical(e.properties ?? {})}`
          : `api|${leadId}|${e.type}|window:${implicitIdWindow(now)}|${canonical(e.properties ?? {})}`,
        LEADLOOP_NAMESPACE,
      );
    const event: LeadEvent = {
      eventId,
      leadId,
      type: e.type,
      occurredAt: occurredAt.toISOString(),
      receivedAt: now.toISOString(),
      source,
      properties: e.properties ?? {},
    };
    const outcome = await deps.leads.appendEvent(event);
    if (outcome === 'recorded') result.accepted++;
    else if (outcome === 'duplicate') result.duplicates++;
    else result.rejected.push({ index, error: 'leadId: no such lead' });
  }
  return result;
}

const WithProperties = z.object({ properties: z.record(z.string(), z.unknown()) });

/**
 * Lead fields over their limits (`LEAD_FIELD_LIMITS`) in any event of the batch: the whole request is refused (400,
 * naming each field) before anything is written, since such an event, once accepted, could never be applied as sent.
 */
function rejectUnappliable(events: readonly unknown[]): void {
  const fields: Record<string, string> = {};
  for (const [index, raw] of events.entries()) {
    const parsed = WithProperties.safeParse(raw);
    if (!parsed.success) continue;
    for (const [name, reason] of Object.entries(leadFieldIssues(parsed.data.properties))) {
      fields[`events.${index}.properties.${name}`] = reason;
    }
  }
  if (Object.keys(fields).length > 0) {
    throw new ValidationError('event properties longer than the lead fields they set', fields);
  }
}
