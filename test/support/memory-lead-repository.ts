import { ConflictError } from '../../lambdas/domain/errors.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import type { Lead, StageTransition } from '../../lambdas/domain/lead.js';
import { lookupsOf } from '../../lambdas/domain/event-lookups.js';
import type { LeadRepository } from '../../lambdas/domain/ports.js';

/**
 * The whole LeadRepository in memory, with the semantics the DynamoDB adapter guarantees: events appended once per
 * id, `commitScoring` only on the expected version and only for events not applied yet (else ConflictError, nothing
 * written). For unit tests and properties that run use cases many times over (no I/O).
 */
export class MemoryLeadRepository implements LeadRepository {
  readonly leads = new Map<string, Lead>();
  readonly identities = new Map<string, string>();
  readonly events = new Map<string, Map<string, LeadEvent & { appliedAt?: string }>>();
  readonly history = new Map<string, StageTransition[]>();
  readonly suppressed = new Set<string>();

  async findLeadIdByEmail(email: string): Promise<string | undefined> {
    return this.identities.get(email);
  }

  async getLead(leadId: string): Promise<Lead | undefined> {
    return structuredClone(this.leads.get(leadId));
  }

  async createLead(lead: Lead): Promise<{ leadId: string; created: boolean }> {
    const existing = this.identities.get(lead.email);
    if (existing) return { leadId: existing, created: false };
    this.identities.set(lead.email, lead.leadId);
    this.leads.set(lead.leadId, structuredClone(lead));
    return { leadId: lead.leadId, created: true };
  }

  async appendEvent(event: LeadEvent): Promise<'recorded' | 'duplicate'> {
    const log = this.events.get(event.leadId) ?? new Map();
    this.events.set(event.leadId, log);
    if (log.has(event.eventId)) return 'duplicate';
    log.set(event.eventId, structuredClone(event));
    return 'recorded';
  }

  async listEvents(leadId: string): Promise<LeadEvent[]> {
    return [...(this.events.get(leadId)?.values() ?? [])]
      .sort((a, b) => (a.eventId < b.eventId ? -1 : 1))
      .map(({ appliedAt: _applied, ...e }) => structuredClone(e));
  }

  async getEvent(leadId: string, eventId: string): Promise<LeadEvent | undefined> {
    return (await this.listEvents(leadId)).find((e) => e.eventId === eventId);
  }

  async suppressingEvents(leadId: string): Promise<LeadEvent[]> {
    return (await this.listEvents(leadId)).filter((e) => lookupsOf(e).some((l) => l.kind === 'suppress'));
  }

  async nurtureSendsSince(leadId: string, since: Date): Promise<LeadEvent[]> {
    return (await this.listEvents(leadId)).filter(
      (e) => lookupsOf(e).some((l) => l.kind === 'sent') && e.occurredAt >= since.toISOString(),
    );
  }

  async messageEvents(leadId: string, messageId: string): Promise<LeadEvent[]> {
    return (await this.listEvents(leadId)).filter((e) =>
      lookupsOf(e).some((l) => l.kind === 'message' && l.messageId === messageId),
    );
  }

  async pendingEventIds(leadId: string): Promise<string[]> {
    return [...(this.events.get(leadId)?.values() ?? [])]
      .filter((e) => e.appliedAt === undefined)
      .map((e) => e.eventId);
  }

  async isSuppressed(email: string): Promise<boolean> {
    return this.suppressed.has(email);
  }

  async stageHistory(leadId: string): Promise<StageTransition[]> {
    return structuredClone(this.history.get(leadId) ?? []);
  }

  async loadPending(
    leadId: string,
    eventIds: string[],
  ): Promise<{ lead: Lead | undefined; pending: LeadEvent[]; invalid: Map<string, string> }> {
    const lead = await this.getLead(leadId);
    const log = this.events.get(leadId);
    const pending = [...new Set(eventIds)]
      .map((id) => log?.get(id))
      .filter((e): e is LeadEvent & { appliedAt?: string } => e !== undefined && e.appliedAt === undefined)
      .map(({ appliedAt: _applied, ...e }) => structuredClone(e));
    return { lead, pending, invalid: new Map() };
  }

  async commitScoring(lead: Lead, appliedEventIds: string[], transitions: StageTransition[]): Promise<void> {
    const stored = this.leads.get(lead.leadId);
    const log = this.events.get(lead.leadId);
    const stale = (stored?.version ?? -1) !== lead.version - 1;
    const applied = appliedEventIds.some((id) => log?.get(id)?.appliedAt !== undefined || !log?.has(id));
    if (stale || applied) throw new ConflictError(`lead ${lead.leadId} changed concurrently`);
    this.leads.set(lead.leadId, structuredClone(lead));
    for (const id of appliedEventIds) {
      const e = log?.get(id);
      if (e) e.appliedAt = 'applied';
    }
    this.history.set(lead.leadId, [...(this.history.get(lead.leadId) ?? []), ...structuredClone(transitions)]);
  }
}
