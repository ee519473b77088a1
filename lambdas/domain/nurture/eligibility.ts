import { DAY_MS } from '../clock.js';
import type { LeadEvent } from '../events.js';
import type { Lead } from '../lead.js';
import { nextSendWindow, zoneFor } from './send-window.js';
import type { SendPolicy } from './tracks.js';

/** Why a lead must not be mailed at all. */
export type SuppressionReason = 'unsubscribed' | 'hard_bounced' | 'complained';

/** Why a touch is skipped (it is not sent, and will not be by waiting). */
export type SkipReason = SuppressionReason | 'no_consent';

/** What to do with a touch now. */
export type Eligibility =
  | { kind: 'send' }
  | { kind: 'skip'; reason: SkipReason }
  | { kind: 'defer'; until: Date; reason: 'frequency_cap' | 'send_window' };

/**
 * Suppression as of now: the lead's own flags (set by scoring) or a suppressing event already in its log that
 * scoring may not have applied yet. Checked at send time, so a fresh unsubscribe or bounce is never mailed again.
 */
export function suppressionOf(lead: Lead, events: readonly LeadEvent[]): SuppressionReason | undefined {
  const s = lead.suppression;
  if (s.unsubscribed || events.some((e) => e.type === 'email_unsubscribed')) return 'unsubscribed';
  if (s.complained || events.some((e) => e.type === 'email_complained')) return 'complained';
  const hardBounce = events.some((e) => e.type === 'email_bounced' && e.properties.bounceType === 'permanent');
  if (s.hardBounced || hardBounce) return 'hard_bounced';
  return undefined;
}

/** True when the lead opted in to marketing email, and confirmed it where confirmation was asked for. */
export const hasMarketingConsent = (lead: Lead): boolean =>
  lead.consent?.marketing === true && lead.consent.confirmation !== 'pending';

/** Nurture emails sent to the lead (any track), oldest first. */
export function nurtureSends(events: readonly LeadEvent[]): LeadEvent[] {
  return events
    .filter((e) => e.type === 'email_sent' && e.source === 'nurture')
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
}

/**
 * When the frequency cap lets the next email go: `undefined` if it may go now, else the instant the oldest send
 * that keeps the window full ages out of it. The sends are the nurture `email_sent` events and the entries of the
 * lead's send ledger (claims not recorded as events yet), each counted once by its id.
 */
export function frequencyCapFreeAt(
  events: readonly LeadEvent[],
  cap: SendPolicy['frequencyCap'],
  now: Date,
  ledger: readonly { touchId: string; at: string }[] = [],
): Date | undefined {
  const windowMs = cap.perDays * DAY_MS;
  const sends = new Map<string, number>();
  for (const e of nurtureSends(events)) sends.set(e.eventId, Date.parse(e.occurredAt));
  for (const entry of ledger) if (!sends.has(entry.touchId)) sends.set(entry.touchId, Date.parse(entry.at));
  const inWindow = [...sends.values()]
    .filter((t) => t > now.getTime() - windowMs && t <= now.getTime())
    .sort((a, b) => a - b);
  if (inWindow.length < cap.maxEmails) return undefined;
  const blocking = inWindow[inWindow.length - cap.maxEmails];
  if (blocking === undefined) return undefined;
  return new Date(blocking + windowMs);
}

/** Rounds up to a whole second: Step Functions' wait timestamps are second-precise. */
export const ceilToSecond = (d: Date): Date => new Date(Math.ceil(d.getTime() / 1000) * 1000);

/**
 * Whether a touch may be sent to the lead now (DESIGN §6): never to a suppressed address or without marketing
 * consent; a touch over the frequency cap (across all tracks) or outside the lead's send window waits for the
 * moment it may go, rather than being dropped.
 */
export function touchEligibility(input: {
  lead: Lead;
  events: readonly LeadEvent[];
  policy: SendPolicy;
  now: Date;
  /** The lead's send ledger (see sending.ts), counted by the frequency cap with the events. */
  ledger?: readonly { touchId: string; at: string }[];
}): Eligibility {
  const { lead, events, policy, now } = input;
  const suppressed = suppressionOf(lead, events);
  if (suppressed) return { kind: 'skip', reason: suppressed };
  if (!hasMarketingConsent(lead)) return { kind: 'skip', reason: 'no_consent' };
  const capFree = frequencyCapFreeAt(events, policy.frequencyCap, now, input.ledger);
  if (capFree) return { kind: 'defer', until: ceilToSecond(capFree), reason: 'frequency_cap' };
  const zone = zoneFor(lead.profile.timeZone, policy);
  const opens = nextSendWindow(now, zone, policy.sendWindow);
  if (opens.getTime() > now.getTime()) return { kind: 'defer', until: ceilToSecond(opens), reason: 'send_window' };
  return { kind: 'send' };
}
