import type { ErasureStatus } from './erasure.js';
import type { LeadEvent } from './events.js';
import type { Lead, StageTransition } from './lead.js';

/** What `GET /leads/...` returns: the lead with its score explanation, stage history and nurture state. */
export function leadView(lead: Lead, history: StageTransition[]) {
  return {
    leadId: lead.leadId,
    email: lead.email,
    profile: lead.profile,
    bant: lead.bant,
    consent: lead.consent ?? null,
    attribution: lead.attribution,
    stage: lead.stage,
    stageReason: lead.stageReason,
    disqualification: lead.disqualification ?? null,
    stageChangedAt: lead.stageChangedAt,
    scores: lead.scores ?? null,
    stageHistory: [...history].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)),
    nurture: lead.nurture ?? null,
    suppression: lead.suppression,
    createdAt: lead.createdAt,
    lastActivityAt: lead.lastActivityAt,
    lastEngagedAt: lead.lastEngagedAt ?? null,
    reviewAt: lead.reviewAt ?? null,
  };
}

/** Everything stored about a lead (data-subject access request). */
export function leadExport(lead: Lead, history: StageTransition[], events: LeadEvent[]) {
  return {
    exportedFormat: 'leadloop.lead-export.v1',
    lead: leadView(lead, history),
    events: [...events].sort((a, b) => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0)),
  };
}

/**
 * One page of a lead's export: the lead and its history on every page, the page's events, and the cursor of the next
 * page (`null` on the last). Pages follow storage order; within a page events are sorted by when they happened.
 */
export function leadExportPage(
  lead: Lead,
  history: StageTransition[],
  events: LeadEvent[],
  nextCursor: string | undefined,
) {
  return { ...leadExport(lead, history, events), nextCursor: nextCursor ?? null };
}

/** What `DELETE /leads/{id}` (202) and `GET /leads/{id}/erasure` return while an erasure is under way. */
export function erasureView(status: ErasureStatus) {
  return {
    leadId: status.leadId,
    status: 'erasing' as const,
    requestedAt: status.requestedAt,
    itemsDeleted: status.itemsDeleted,
    nurtureRunStopped: status.run === undefined || status.runStopped,
  };
}
