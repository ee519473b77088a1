import type { LeadEvent } from '../events.js';
import { BANT_FIELDS, newLead, type Contribution, type Lead, type Scores } from '../lead.js';
import { applyEvents, parseModel, rescore, type ScoringModel } from '../scoring/index.js';
import { evidenceBefore, outcomeOf, type Label, type OutcomeType } from './outcomes.js';

/**
 * The leakage-free replay of one labeled lead under one model (DESIGN §11): its events strictly before its first
 * outcome, applied one at a time as the live pipeline applies them, recording after each the lead's scores and
 * whether it was in the funnel. From those checkpoints the stages it would have reached follow for the model's own
 * thresholds and for every other threshold of the calibration grid, without replaying again.
 *
 * Why this is exact: scores (fit, engagement, BANT evidence, high intent) do not depend on the thresholds, only
 * stages do. The replay runs under a copy of the model whose MQL bar cannot be met ({@link funnelOnly}), so the lead's
 * path (subscriber → lead, disqualified and requalified) is the path every threshold choice shares until the lead
 * first reaches MQL. Engagement only decays between events, so a threshold is first met either right after an event
 * or when the lead (re-)enters the funnel: those are the checkpoints. test/unit/model-lab checks this against full
 * replays under changed thresholds.
 */

/** A stored lead as the model lab reads it: its identity and creation time (the replay starts from scratch). */
export interface LeadRef {
  readonly leadId: string;
  readonly email: string;
  readonly createdAt: string;
}

/** A lead with its whole event log. */
export interface LeadLog {
  readonly lead: LeadRef;
  readonly events: readonly LeadEvent[];
}

/** The lead's scores at one instant, while it was in the funnel (not disqualified, more than a subscriber). */
export interface Checkpoint {
  readonly atMs: number;
  readonly fit: number;
  readonly engagement: number;
  /** BANT answers that count as evidence (given, and no negative rule matched them). */
  readonly bant: number;
  /** When the lead's last high-intent action happened, if any. */
  readonly lastHighIntentMs: number | undefined;
}

/** What the explanation of a score shows in a report: the largest contributions. */
export interface Explanation {
  readonly fit: number;
  readonly engagement: number;
  readonly total: number;
  readonly grade: string;
  readonly contributions: { label: string; points: number; kind: string }[];
}

/** A labeled lead replayed under one model up to its first outcome. */
export interface LeadReplay {
  readonly leadId: string;
  readonly label: Label;
  readonly outcomeType: OutcomeType;
  readonly outcomeAtMs: number;
  /** Events used as evidence (strictly before the outcome). */
  readonly evidence: number;
  readonly checkpoints: readonly Checkpoint[];
  /** The scores at the outcome instant (engagement decayed to it), with their explanation. */
  readonly atOutcome: Explanation;
  /** Job title and company as the lead gave them, for examples in reports (never the email address). */
  readonly profile: { readonly jobTitle?: string; readonly company?: string };
}

const funnelOnlyModels = new WeakMap<ScoringModel, ScoringModel>();

/**
 * The model with an MQL bar no lead can meet (so no lead becomes an MQL or an SQL) and everything else unchanged:
 * the replay's funnel path before any threshold is met.
 */
export function funnelOnly(model: ScoringModel): ScoringModel {
  const cached = funnelOnlyModels.get(model);
  if (cached) return cached;
  const sql = { ...model.thresholds.sql };
  delete sql.minFit;
  delete sql.minEngagement;
  const derived = parseModel({
    ...model,
    thresholds: {
      ...model.thresholds,
      mql: { fit: Number.MAX_SAFE_INTEGER, engagement: Number.MAX_SAFE_INTEGER },
      sql,
    },
  });
  funnelOnlyModels.set(model, derived);
  return derived;
}

/** Field of each fit rule that takes points away, by rule id: a BANT answer a negative rule matched is no evidence. */
const negativeFieldsCache = new WeakMap<ScoringModel, ReadonlyMap<string, string>>();
function negativeFields(model: ScoringModel): ReadonlyMap<string, string> {
  const cached = negativeFieldsCache.get(model);
  if (cached) return cached;
  const map = new Map<string, string>();
  for (const rule of model.fit.rules) if (rule.points < 0 && rule.op !== 'emailDomainIn') map.set(rule.id, rule.field);
  negativeFieldsCache.set(model, map);
  return map;
}

function bantEvidence(lead: Lead, model: ScoringModel): number {
  const negatives = negativeFields(model);
  const refuted = new Set<string>();
  for (const c of lead.scores?.contributions ?? []) {
    const field = c.kind === 'fit' ? negatives.get(c.ruleId) : undefined;
    if (field !== undefined) refuted.add(field);
  }
  return BANT_FIELDS.filter((f) => (lead.bant[f]?.trim() ?? '') !== '' && !refuted.has(f)).length;
}

function checkpoint(lead: Lead, scores: Scores | undefined, atMs: number, model: ScoringModel): Checkpoint {
  return {
    atMs,
    fit: scores?.fit ?? 0,
    engagement: scores?.engagement ?? 0,
    bant: bantEvidence(scores ? { ...lead, scores } : lead, model),
    lastHighIntentMs: scores?.lastHighIntentAt !== undefined ? Date.parse(scores.lastHighIntentAt) : undefined,
  };
}

/** The largest contributions of a score, for a report's explanation. */
export function explain(scores: Scores | undefined, top = 6): Explanation {
  const contributions = [...(scores?.contributions ?? [])]
    .map((c: Contribution) => ({ label: c.label, points: round2(c.decayedPoints ?? c.points), kind: c.kind }))
    .filter((c) => c.points !== 0)
    .sort((a, b) => Math.abs(b.points) - Math.abs(a.points) || (a.label < b.label ? -1 : 1))
    .slice(0, top);
  return {
    fit: round2(scores?.fit ?? 0),
    engagement: round2(scores?.engagement ?? 0),
    total: round2(scores?.total ?? 0),
    grade: scores?.grade ?? 'F',
    contributions,
  };
}

/**
 * Replays a lead under `model` using only events strictly before its first outcome. Undefined for an unlabeled lead
 * (no outcome: nothing to predict).
 */
export function replayLead(log: LeadLog, model: ScoringModel): LeadReplay | undefined {
  const outcome = outcomeOf(log.events);
  if (!outcome) return undefined;
  const cutoffMs = outcome.first.atMs;
  const m = funnelOnly(model);
  const evidence = evidenceBefore(log.events, cutoffMs);
  const checkpoints: Checkpoint[] = [];
  let lead = newLead(log.lead.leadId, log.lead.email, new Date(log.lead.createdAt));

  /** One step of the live pipeline: `events` applied as of `atMs`, checkpoints for every moment it is in the funnel. */
  const step = (events: LeadEvent[], atMs: number): void => {
    const before = lead;
    const result =
      events.length > 0 ? applyEvents(before, events, m, new Date(atMs)) : rescore(before, m, new Date(atMs));
    for (const t of result.transitions) {
      if (t.to !== 'lead') continue;
      const tMs = Date.parse(t.at);
      if (tMs >= atMs) {
        checkpoints.push(checkpoint(result.lead, result.lead.scores, atMs, m));
        continue;
      }
      // Entering the funnel between events (a cool-off ending): the lead and its scores as of that instant.
      const then = rescore(before, m, new Date(tMs)).lead;
      checkpoints.push(checkpoint(then, then.scores, tMs, m));
    }
    if (events.length > 0 && result.lead.stage === 'lead') {
      checkpoints.push(checkpoint(result.lead, result.lead.scores, atMs, m));
    }
    lead = result.lead;
  };

  for (const event of evidence) step([event], Math.max(Date.parse(event.occurredAt), Date.parse(lead.createdAt)));
  step([], Math.max(cutoffMs, Date.parse(lead.createdAt)));
  return {
    leadId: log.lead.leadId,
    label: outcome.label,
    outcomeType: outcome.first.type,
    outcomeAtMs: cutoffMs,
    evidence: evidence.length,
    checkpoints,
    atOutcome: explain(lead.scores),
    profile: {
      ...(lead.profile.jobTitle !== undefined && { jobTitle: lead.profile.jobTitle }),
      ...(lead.profile.company !== undefined && { company: lead.profile.company }),
    },
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
