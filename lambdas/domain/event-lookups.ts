import type { LeadEvent } from './events.js';

/**
 * The keyed lookups an event is filed under besides its own item (issue 13), so the hot paths read what they need
 * without the lead's whole log: a touch and a re-evaluation read the suppressing events and the nurture sends of the
 * frequency cap's window; the SES engagement handler reads the deliveries and clicks of one message.
 */
export type EventLookup = { kind: 'suppress' } | { kind: 'sent' } | { kind: 'message'; messageId: string };

/** Events that keep a lead from being mailed (checked at send time, applied or not). */
export function isSuppressing(e: Pick<LeadEvent, 'type' | 'properties'>): boolean {
  return (
    e.type === 'email_unsubscribed' ||
    e.type === 'email_complained' ||
    (e.type === 'email_bounced' && e.properties.bounceType === 'permanent')
  );
}

/** What an SES message id looks like (bounded, so it fits in a sort key; anything else is never SES's). */
const MESSAGE_ID = /^[\w.@+=-]{1,200}$/;

/** What the event is filed under; most events (page views, form posts, opens) need no lookup at all. */
export function lookupsOf(e: LeadEvent): EventLookup[] {
  if (isSuppressing(e)) return [{ kind: 'suppress' }];
  if (e.type === 'email_sent' && e.source === 'nurture') return [{ kind: 'sent' }];
  const messageId = e.properties.messageId;
  if (
    (e.type === 'email_delivered' || e.type === 'email_clicked') &&
    typeof messageId === 'string' &&
    MESSAGE_ID.test(messageId)
  ) {
    return [{ kind: 'message', messageId }];
  }
  return [];
}
