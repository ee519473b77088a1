import type { Lead, StageTransition } from './lead.js';
import type { LeadEvent } from './events.js';

/** Storage of leads, identities, events and stage history (implemented by adapters/dynamo-lead-repository). */
export interface LeadRepository {
  /** The lead id registered for a normalized email, if any. */
  findLeadIdByEmail(email: string): Promise<string | undefined>;
  getLead(leadId: string): Promise<Lead | undefined>;
  /**
   * Creates the lead and its identity in one transaction. If the email is already registered (another submission
   * won the race), nothing is written and the existing lead id is returned.
   */
  createLead(lead: Lead): Promise<{ leadId: string; created: boolean }>;
  /**
   * Appends an event once per (leadId, eventId); a second append of the same id is a no-op (`duplicate`). Only while
   * the lead exists and is not being erased, in the same write: otherwise nothing is written (`gone`).
   */
  appendEvent(event: LeadEvent): Promise<'recorded' | 'duplicate' | 'gone'>;
  /** The whole log: for export and operator views, never a hot path (its cost grows with the history). */
  listEvents(leadId: string): Promise<LeadEvent[]>;
  /** One event by id (a consistent read), if stored. */
  getEvent(leadId: string, eventId: string): Promise<LeadEvent | undefined>;
  /**
   * Keyed reads of the lookups events are filed under (domain/event-lookups.ts), each costing what it returns, never
   * the history: the lead's suppressing events, applied or not; its nurture sends that occurred at or after `since`;
   * the deliveries and clicks recorded for one SES message.
   */
  suppressingEvents(leadId: string): Promise<LeadEvent[]>;
  nurtureSendsSince(leadId: string, since: Date): Promise<LeadEvent[]>;
  messageEvents(leadId: string, messageId: string): Promise<LeadEvent[]>;
  /**
   * Ids of the lead's events that are not applied yet (the pending index: eventually consistent, so an event stored a
   * moment ago may be missing; `loadPending` re-reads each one consistently). Scoring applies them with the batch's.
   */
  pendingEventIds(leadId: string): Promise<string[]>;
  /** True if the address was erased (or otherwise suppressed for good): it must not be re-added. */
  isSuppressed(email: string): Promise<boolean>;
  stageHistory(leadId: string): Promise<StageTransition[]>;
  /**
   * The given events of a lead that have not been applied to its score yet, with the lead as stored now. Stored
   * events that no longer fit the event schema are not returned but listed in `invalid` (id → reason), so one bad
   * item cannot hold up the lead's other events.
   */
  loadPending(
    leadId: string,
    eventIds: string[],
  ): Promise<{ lead: Lead | undefined; pending: LeadEvent[]; invalid: Map<string, string> }>;
  /**
   * Persists a re-scored lead atomically: the lead (only if its stored version is `lead.version - 1`), the events
   * marked applied (only if not applied yet) and the new stage transitions. Throws ConflictError if another writer
   * got there first, so the caller re-reads and retries.
   */
  commitScoring(lead: Lead, appliedEventIds: string[], transitions: StageTransition[]): Promise<void>;
}
