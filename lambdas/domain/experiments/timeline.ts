import type { LeadEvent } from '../events.js';
import { newLead } from '../lead.js';
import type { LeadLog } from '../model-lab/replay.js';
import { applyEvents, type ScoringModel } from '../scoring/index.js';
import type { StageTimeline } from './report.js';

/**
 * A lead's stages over time as the scoring model decides them from its event log: its events up to `untilMs`
 * replayed from a new lead, as the live pipeline applies them (each event once, in order). Reaching MQL or SQL
 * needs an event (fit and engagement only grow on events), so the instants agree with the live pipeline's.
 */
export function stageTimeline(log: LeadLog, model: ScoringModel, untilMs: number): StageTimeline {
  const start = newLead(log.lead.leadId, log.lead.email, new Date(log.lead.createdAt));
  const unique = new Map<string, LeadEvent>();
  for (const e of log.events)
    if (Date.parse(e.occurredAt) <= untilMs && !unique.has(e.eventId)) unique.set(e.eventId, e);
  const events = [...unique.values()].sort(
    (a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.eventId.localeCompare(b.eventId),
  );
  const at = new Date(Math.max(untilMs, Date.parse(log.lead.createdAt)));
  const { transitions } = applyEvents(start, events, model, at);
  return {
    initial: start.stage,
    changes: transitions.map((t) => ({ atMs: Date.parse(t.at), to: t.to })).sort((a, b) => a.atMs - b.atMs),
  };
}
