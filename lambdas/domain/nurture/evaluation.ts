import { NURTURE_RECORD_TYPES, type LeadEvent } from '../events.js';
import type { Lead } from '../lead.js';
import { hasMarketingConsent, suppressionOf } from './eligibility.js';
import type { Track } from './tracks.js';

/**
 * Where a lead stands in its track, re-evaluated after each wait (DESIGN §6):
 * - `promoted`: it reached a hand-off stage (SQL) → hand off to sales and end;
 * - `disqualified`, `unsubscribed`, `suppressed`, `no_consent`, `exited`, `gone` → end without sending;
 * - `unresponsive`: the track is exhausted and the lead never engaged → disqualify as unresponsive;
 * - `completed`: the track is exhausted and the lead engaged → end (requalification decides what comes next);
 * - `superseded`: the run is no longer the lead's current one (another run took over, or it was stopped) → end
 *   without sending or writing anything;
 * - `next`: send the next touch.
 */
export type NurtureDecision =
  | 'promoted'
  | 'disqualified'
  | 'unsubscribed'
  | 'suppressed'
  | 'no_consent'
  | 'exited'
  | 'gone'
  | 'unresponsive'
  | 'completed'
  | 'superseded'
  | 'next';

/** Decisions that end the run without a hand-off. */
export const ENDING_DECISIONS = [
  'disqualified',
  'unsubscribed',
  'suppressed',
  'no_consent',
  'exited',
  'gone',
  'completed',
  'superseded',
] as const;

/**
 * Event types that show a person engaging: opening or clicking our mail, or doing anything on the site or with
 * sales. Mail we send and what mail servers report about it are not engagement. Opens and clicks flagged as
 * machine activity (`properties.machine === true`, see the engagement handler) do not count.
 */
export function isEngagement(e: LeadEvent): boolean {
  if (e.properties.machine === true) return false;
  if (e.type === 'email_opened' || e.type === 'email_clicked') return true;
  return !e.type.startsWith('email_') && e.type !== 'sales_rejected' && !NURTURE_RECORD_TYPES.includes(e.type);
}

/**
 * True if the lead engaged at or after `since`: by its scores, by what scoring recorded of its applied events
 * (`activity`), or by an event in `events` (those not applied yet, or the whole log of a lead without `activity`).
 */
export function engagedSince(lead: Lead, events: readonly LeadEvent[], since: Date): boolean {
  if (lead.lastEngagedAt && Date.parse(lead.lastEngagedAt) >= since.getTime()) return true;
  const recorded = lead.activity?.lastEngagementAt;
  if (recorded && Date.parse(recorded) >= since.getTime()) return true;
  return events.some((e) => isEngagement(e) && Date.parse(e.occurredAt) >= since.getTime());
}

/** When this run enrolled the lead: its nurture state if it is this run's, else its first send, else `fallback`. */
export function enrolledAt(lead: Lead, events: readonly LeadEvent[], executionName: string, fallback: Date): Date {
  if (lead.nurture?.executionName === executionName) return new Date(lead.nurture.enrolledAt);
  const first = events
    .filter((e) => e.type === 'email_sent' && e.properties.executionName === executionName)
    .map((e) => e.occurredAt)
    .sort()[0];
  return first ? new Date(first) : fallback;
}

/**
 * Whether the lead is still in the track at all (before a touch, or after a wait): `continue` if nothing ends it.
 * A lead promoted or disqualified mid-wait gets no further nurture email.
 */
export function trackStanding(
  lead: Lead | undefined,
  events: readonly LeadEvent[],
  track: Track,
): Exclude<NurtureDecision, 'unresponsive' | 'completed' | 'superseded' | 'next'> | 'continue' {
  if (!lead) return 'gone';
  if (track.exit.handoffStages.includes(lead.stage)) return 'promoted';
  if (lead.stage === 'disqualified') return lead.disqualification === 'unsubscribed' ? 'unsubscribed' : 'disqualified';
  const suppressed = suppressionOf(lead, events);
  if (suppressed === 'unsubscribed') return 'unsubscribed';
  if (suppressed) return 'suppressed';
  if (!hasMarketingConsent(lead)) return 'no_consent';
  if (track.exit.stages.includes(lead.stage) || !track.entry.stages.includes(lead.stage)) return 'exited';
  return 'continue';
}

/** The re-evaluation after the wait that follows touch `touch` (1-based) of `track`. */
export function reevaluate(input: {
  lead: Lead | undefined;
  events: readonly LeadEvent[];
  track: Track;
  touch: number;
  executionName: string;
  now: Date;
}): NurtureDecision {
  const { lead, events, track, touch } = input;
  const standing = trackStanding(lead, events, track);
  if (standing !== 'continue') return standing;
  if (!lead) return 'gone';
  const current = lead.nurture?.executionName === input.executionName && lead.nurture.status !== 'stopped';
  if (!current) return 'superseded';
  if (touch < track.touches.length) return 'next';
  const since = enrolledAt(lead, events, input.executionName, input.now);
  return engagedSince(lead, events, since) ? 'completed' : 'unresponsive';
}

/** The lead's `activity` after applying `events` to it (the latest engagement among them and what it had). */
export function activityAfter(activity: Lead['activity'], events: readonly LeadEvent[]): NonNullable<Lead['activity']> {
  let latest = activity?.lastEngagementAt;
  for (const e of events) {
    if (isEngagement(e) && (latest === undefined || Date.parse(e.occurredAt) > Date.parse(latest))) {
      latest = new Date(Date.parse(e.occurredAt)).toISOString();
    }
  }
  return latest === undefined ? {} : { lastEngagementAt: latest };
}
