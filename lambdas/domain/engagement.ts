/**
 * Recording email engagement (issue 5): the events an SES record stands for, attributed to leads and appended to
 * their activity logs once per deterministic event id. Scoring happens downstream (the table stream re-scores new
 * event items), so a redelivered record finds its events already there and changes nothing.
 */
import type { Clock } from './clock.js';
import type { LeadEvent } from './events.js';
import type { LeadRepository } from './ports.js';
import {
  mapSesRecord,
  type MachineContext,
  type MachineRules,
  type MappedEmailEvent,
  type PriorClick,
  type SesEventRecord,
} from './ses-events.js';

export interface EngagementDeps {
  leads: Pick<LeadRepository, 'findLeadIdByEmail' | 'messageEvents' | 'appendEvent'>;
  clock: Clock;
  /** Overrides of the machine-activity thresholds (docs/email-engagement.md §4). */
  machineRules?: Partial<MachineRules>;
}

/** What one SES record did to the event store. */
export interface RecordedEngagement {
  /** Events appended now. */
  recorded: LeadEvent[];
  /** Events that were already there (a redelivery): nothing written. */
  duplicates: LeadEvent[];
  /** Recipients no lead is registered for (never a lead, or erased): nothing written. */
  unattributed: number;
  /** Recipients whose `leadId` tag named another lead than the one registered for the address; attributed by address. */
  tagMismatches: { leadId: string; taggedLeadId: string }[];
}

/**
 * Records the events an SES record stands for, one per affected recipient.
 *
 * - **Lead**: the lead registered for the recipient's normalized address. The message's `leadId` tag is trusted only
 *   when it is that lead (the tagged lead exists and its email is the recipient's: the identity item is created and
 *   erased with the lead); otherwise the address decides and the mismatch is reported. An address no lead is
 *   registered for records nothing: bounces and complaints for strangers are SES's account-level suppression's
 *   business, and an erased person must not reappear.
 * - **Machine context** (opens and clicks): the delivery time of that message and the clicks already recorded on it,
 *   read from the message's lookup items (not the lead's whole log), so the timing and burst rules see what was recorded before.
 * - **Once**: the event ids are derived from the record, so a redelivery is a duplicate and writes nothing.
 */
export async function recordEngagement(deps: EngagementDeps, record: SesEventRecord): Promise<RecordedEngagement> {
  const result: RecordedEngagement = { recorded: [], duplicates: [], unattributed: 0, tagMismatches: [] };
  const receivedAt = deps.clock.now().toISOString();
  const rules = deps.machineRules ? { rules: deps.machineRules } : {};
  for (const mapped of mapSesRecord(record, rules)) {
    const leadId = await deps.leads.findLeadIdByEmail(mapped.email);
    if (leadId === undefined) {
      result.unattributed++;
      continue;
    }
    if (mapped.leadId !== undefined && mapped.leadId !== leadId) {
      result.tagMismatches.push({ leadId, taggedLeadId: mapped.leadId });
    }
    const final = needsMachineContext(record)
      ? withContext(record, mapped, {
          ...rules,
          // The message's own deliveries and clicks (a keyed read): the cost does not grow with the lead's history.
          ...machineContextFrom(
            await deps.leads.messageEvents(leadId, record.mail.messageId),
            record.mail.messageId,
            mapped.eventId,
          ),
        })
      : mapped;
    const event: LeadEvent = {
      eventId: final.eventId,
      leadId,
      type: final.type,
      occurredAt: final.occurredAt,
      receivedAt,
      source: 'ses',
      properties: final.properties,
    };
    const outcome = await deps.leads.appendEvent(event);
    if (outcome === 'gone')
      result.unattributed++; // erased meanwhile: nothing written
    else (outcome === 'recorded' ? result.recorded : result.duplicates).push(event);
  }
  return result;
}

/** Only opens and clicks are ever classified as a machine's; other records need no context. */
const needsMachineContext = (record: SesEventRecord): boolean =>
  record.eventType === 'Open' || record.eventType === 'Click';

/** The recipient's event mapped again with what the lead's log says (same id: the context never enters it). */
function withContext(record: SesEventRecord, mapped: MappedEmailEvent, ctx: MachineContext): MappedEmailEvent {
  return mapSesRecord(record, ctx).find((e) => e.email === mapped.email) ?? mapped;
}

/**
 * What a lead's log says about one message, for the machine rules: when it was delivered (the first delivery
 * recorded) and the clicks already recorded on it, leaving out the event being classified (a redelivery of it is
 * not a prior click).
 */
export function machineContextFrom(
  events: readonly LeadEvent[],
  messageId: string,
  excludeEventId?: string,
): Pick<MachineContext, 'deliveredAt' | 'priorClicks'> {
  let deliveredAt: string | undefined;
  const priorClicks: PriorClick[] = [];
  for (const e of events) {
    if (e.properties.messageId !== messageId || e.eventId === excludeEventId) continue;
    if (e.type === 'email_delivered' && (deliveredAt === undefined || e.occurredAt < deliveredAt)) {
      deliveredAt = e.occurredAt;
    } else if (e.type === 'email_clicked' && typeof e.properties.link === 'string') {
      priorClicks.push({ link: e.properties.link, at: e.occurredAt });
    }
  }
  priorClicks.sort((a, b) => a.at.localeCompare(b.at));
  return { ...(deliveredAt === undefined ? {} : { deliveredAt }), priorClicks };
}
