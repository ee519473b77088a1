import { DAY_MS } from '../clock.js';
import type { LeadEvent } from '../events.js';
import type { Lead } from '../lead.js';
import type { LeadRepository } from '../ports.js';
import type { SendPolicy } from './tracks.js';

type Reads = Pick<
  LeadRepository,
  'suppressingEvents' | 'nurtureSendsSince' | 'pendingEventIds' | 'loadPending' | 'listEvents'
>;

const byId = (events: readonly LeadEvent[]): LeadEvent[] => [...new Map(events.map((e) => [e.eventId, e])).values()];

/**
 * What a touch needs of the lead's log, by keyed reads whose cost does not grow with its history (issue 13): the
 * suppressing events (applied or not: a fresh unsubscribe is never mailed) and the nurture sends of the frequency
 * cap's window as of `now` (the cap only counts those).
 */
export async function touchLog(leads: Reads, leadId: string, policy: SendPolicy, now: Date): Promise<LeadEvent[]> {
  const [suppressing, sends] = await Promise.all([
    leads.suppressingEvents(leadId),
    leads.nurtureSendsSince(leadId, new Date(now.getTime() - policy.frequencyCap.perDays * DAY_MS)),
  ]);
  return byId([...suppressing, ...sends]);
}

/**
 * What a re-evaluation needs: the suppressing events and, after a track's last touch (where engagement decides), the
 * events scoring has not applied yet (the applied ones are summed up in `lead.activity`). A lead scored before
 * `activity` existed is read whole, once per re-evaluation, until its next scoring fills it in.
 */
export async function evaluationLog(leads: Reads, lead: Lead, lastTouch: boolean): Promise<LeadEvent[]> {
  if (!lastTouch) return leads.suppressingEvents(lead.leadId);
  if (lead.activity === undefined) return leads.listEvents(lead.leadId);
  const [suppressing, pendingIds] = await Promise.all([
    leads.suppressingEvents(lead.leadId),
    leads.pendingEventIds(lead.leadId),
  ]);
  const pending = pendingIds.length > 0 ? (await leads.loadPending(lead.leadId, pendingIds)).pending : [];
  return byId([...suppressing, ...pending]);
}
