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
