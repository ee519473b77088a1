import { assertNever } from '../errors.js';
import type { EventType, LeadEvent } from '../events.js';

/**
 * Outcomes (DESIGN §11): what sales said or did about a lead, recorded as events through `POST /events`. A lead is
 * labeled from its own log; the first outcome event is the moment after which nothing may count as evidence.
 */

/** A won or accepted lead: sales took it (`sales_accepted`), opened an opportunity, or it bought. */
export const POSITIVE_OUTCOMES = ['opportunity_created', 'purchase', 'sales_accepted'] as const;
/** A lead sales turned down. */
export const NEGATIVE_OUTCOMES = ['sales_rejected'] as const;

export type OutcomeType = (typeof POSITIVE_OUTCOMES)[number] | (typeof NEGATIVE_OUTCOMES)[number];
export type Label = 'positive' | 'negative';

/** True for the event types that are sales outcomes (they label a lead, they never count as its evidence). */
export function isOutcomeType(type: EventType): type is OutcomeType {
  switch (type) {
    case 'opportunity_created':
    case 'purchase':
    case 'sales_accepted':
    case 'sales_rejected':
      return true;
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
    case 'email_sent':
    case 'email_delivered':
    case 'email_opened':
    case 'email_clicked':
    case 'email_bounced':
    case 'email_complained':
    case 'email_unsubscribed':
    case 'email_rejected':
    case 'email_delivery_delayed':
    case 'email_rendering_failed':
    case 'consent_confirmed':
    case 'touch_held_out':
      return false;
    default:
      return assertNever(type);
  }
}

const isPositive = (type: OutcomeType): boolean => type !== 'sales_rejected';

/** A labeled lead's outcome: its label, and its first outcome event (the cut-off). */
export interface Outcome {
  readonly label: Label;
  /** The first outcome event in time (then by eventId): evidence must come strictly before it. */
  readonly first: { readonly eventId: string; readonly type: OutcomeType; readonly atMs: number };
}

/**
 * The label of a lead from its whole log: positive if any event is `opportunity_created`, `purchase` or
 * `sales_accepted`; negative if it has `sales_rejected` and no positive; undefined (unlabeled) otherwise.
 */
export function outcomeOf(events: readonly LeadEvent[]): Outcome | undefined {
  let first: Outcome['first'] | undefined;
  let positive = false;
  for (const e of events) {
    if (!isOutcomeType(e.type)) continue;
    positive ||= isPositive(e.type);
    const atMs = Date.parse(e.occurredAt);
    if (!first || atMs < first.atMs || (atMs === first.atMs && e.eventId < first.eventId)) {
      first = { eventId: e.eventId, type: e.type, atMs };
    }
  }
  return first && { label: positive ? 'positive' : 'negative', first };
}

/**
 * The evidence a prediction may use: events strictly before the first outcome, once per eventId, in order of
 * occurrence then eventId (the order the scoring engine applies them in). Nothing at or after the outcome survives.
 */
export function evidenceBefore(events: readonly LeadEvent[], cutoffMs: number): LeadEvent[] {
  const unique = new Map<string, { event: LeadEvent; ms: number }>();
  for (const event of events) {
    const ms = Date.parse(event.occurredAt);
    if (ms < cutoffMs && !unique.has(event.eventId)) unique.set(event.eventId, { event, ms });
  }
  return [...unique.values()]
    .sort((a, b) => a.ms - b.ms || (a.event.eventId < b.event.eventId ? -1 : a.event.eventId > b.event.eventId ? 1 : 0))
    .map((u) => u.event);
}
