import type { EngagementDeps } from '../../../lambdas/domain/engagement.js';
import { lookupsOf } from '../../../lambdas/domain/event-lookups.js';
import type { LeadEvent } from '../../../lambdas/domain/events.js';

/** The part of LeadRepository that recording engagement uses, in memory: identities and append-once event logs. */
export class MemoryLeads implements Pick<
  EngagementDeps['leads'],
  'findLeadIdByEmail' | 'messageEvents' | 'appendEvent'
> {
  readonly identities = new Map<string, string>();
  readonly events = new Map<string, LeadEvent[]>();
  /** Every call, in order, to check what was read and written. */
  readonly calls: string[] = [];

  register(email: string, leadId: string): this {
    this.identities.set(email, leadId);
    return this;
  }

  async findLeadIdByEmail(email: string): Promise<string | undefined> {
    this.calls.push(`findLeadIdByEmail ${email}`);
    return this.identities.get(email);
  }

  async messageEvents(leadId: string, messageId: string): Promise<LeadEvent[]> {
    this.calls.push(`messageEvents ${leadId} ${messageId}`);
    return (this.events.get(leadId) ?? []).filter((e) =>
      lookupsOf(e).some((l) => l.kind === 'message' && l.messageId === messageId),
    );
  }

  async appendEvent(event: LeadEvent): Promise<'recorded' | 'duplicate'> {
    this.calls.push(`appendEvent ${event.leadId} ${event.type}`);
    const log = this.events.get(event.leadId) ?? [];
    if (log.some((e) => e.eventId === event.eventId)) return 'duplicate';
    this.events.set(event.leadId, [...log, event]);
    return 'recorded';
  }

  /** Every event of every lead. */
  all(): LeadEvent[] {
    return [...this.events.values()].flat();
  }
}
