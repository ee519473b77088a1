import type { LeadEvent } from './events.js';
import { isSunset, newLead, type Lead, type Stage } from './lead.js';
import type { LeadRef } from './model-lab/replay.js';
import { chooseTrack } from './nurture/enrollment.js';
import { exhaustedWithoutEvidence, reengagementTrack } from './nurture/sunset.js';
import type { Track } from './nurture/tracks.js';
import { applyEvents, type ScoringModel } from './scoring/index.js';

/** A stored lead (its identity and creation time: the replay starts from scratch) with its whole event log. */
export interface LeadHistory {
  lead: LeadRef;
  events: readonly LeadEvent[];
}

/** A lead's stage and total under one model, replayed from its events as of one instant. */
export interface Replayed {
  stage: Stage;
  total: number;
  grade: string;
  reason: string;
}

/** Replays a lead's whole event log from scratch under a model (what the lead would be had the model always been in force). */
export function replay(history: LeadHistory, model: ScoringModel, now: Date): Replayed {
  const start = newLead(history.lead.leadId, history.lead.email, new Date(history.lead.createdAt));
  const { lead } = applyEvents(start, [...history.events], model, now);
  return {
    stage: lead.stage,
    total: lead.scores?.total ?? 0,
    grade: lead.scores?.grade ?? 'F',
    reason: lead.stageReason,
  };
}

export interface ModelComparison {
  leads: number;
  changed: number;
  /** `from → to` → how many leads would move that way. */
  moves: Record<string, number>;
  /** Up to `examples` leads per move, with their scores under both models. */
  examples: Record<string, { leadId: string; before: Replayed; after: Replayed }[]>;
  /** Stage counts under each model. */
  funnel: { stage: Stage; before: number; after: number }[];
}

/** A comparison being built lead by lead (mergeable: segments or worker threads each keep one). */
export interface ComparisonTally {
  leads: number;
  changed: number;
  moves: Record<string, number>;
  examples: Record<string, { leadId: string; before: Replayed; after: Replayed }[]>;
  before: Partial<Record<Stage, number>>;
  after: Partial<Record<Stage, number>>;
}

export const emptyComparison = (): ComparisonTally => ({
  leads: 0,
  changed: 0,
  moves: {},
  examples: {},
  before: {},
  after: {},
});

/** Re-scores one lead under both models and folds it into the tally. Mutates and returns `tally`. */
export function addToComparison(
  tally: ComparisonTally,
  h: LeadHistory,
  current: ScoringModel,
  candidate: ScoringModel,
  now: Date,
  examples = 3,
): ComparisonTally {
  tally.leads++;
  const b = replay(h, current, now);
  const a = replay(h, candidate, now);
  tally.before[b.stage] = (tally.before[b.stage] ?? 0) + 1;
  tally.after[a.stage] = (tally.after[a.stage] ?? 0) + 1;
  if (a.stage === b.stage) return tally;
  tally.changed++;
  const move = `${b.stage} → ${a.stage}`;
  tally.moves[move] = (tally.moves[move] ?? 0) + 1;
  const list = (tally.examples[move] ??= []);
  if (list.length < examples) list.push({ leadId: h.lead.leadId, before: b, after: a });
  return tally;
}

/** Both tallies' leads in one (examples: the first tally's first, up to `examples` per move). */
export function mergeComparisons(x: ComparisonTally, y: ComparisonTally, examples = 3): ComparisonTally {
  const add = (p: Partial<Record<string, number>>, q: Partial<Record<string, number>>) => {
    const out: Record<string, number> = { ...p } as Record<string, number>;
    for (const [k, n] of Object.entries(q)) out[k] = (out[k] ?? 0) + (n ?? 0);
    return out;
  };
  const exampleLists: ComparisonTally['examples'] = {};
  for (const move of new Set([...Object.keys(x.examples), ...Object.keys(y.examples)])) {
    exampleLists[move] = [...(x.examples[move] ?? []), ...(y.examples[move] ?? [])].slice(0, examples);
  }
  return {
    leads: x.leads + y.leads,
    changed: x.changed + y.changed,
    moves: add(x.moves, y.moves),
    examples: exampleLists,
    before: add(x.before, y.before),
    after: add(x.after, y.after),
  };
}

/** The comparison a tally describes. */
export function comparisonOf(t: ComparisonTally): ModelComparison {
  const stages = new Set([...Object.keys(t.before), ...Object.keys(t.after)] as Stage[]);
  return {
    leads: t.leads,
    changed: t.changed,
    moves: t.moves,
    examples: t.examples,
    funnel: [...stages].map((stage) => ({ stage, before: t.before[stage] ?? 0, after: t.after[stage] ?? 0 })),
  };
}

/**
 * Re-scores leads under the current and a candidate model, both from the same events and as of the same instant,
 * and says how many would change stage and how. Pure: nothing is written.
 */
export function compareModels(
  histories: Iterable<LeadHistory>,
  current: ScoringModel,
  candidate: ScoringModel,
  now: Date,
  examples = 3,
): ModelComparison {
  const tally = emptyComparison();
  for (const h of histories) addToComparison(tally, h, current, candidate, now, examples);
  return comparisonOf(tally);
}

/** What the sunset policy does to the stored leads (DESIGN §7), as `leadloop simulate` reports it. */
export interface SunsetReport {
  /** Leads that exhausted a track without engaging. */
  exhausted: number;
  /** Of those, leads whose next track would be the re-engagement track (no new evidence, cycles left). */
  reengagement: number;
  /** Leads sunset: no marketing mail until they act. */
  sunset: number;
  /** Leads that exhausted a track but brought new evidence since (engagement or a changed fit): mailed again. */
  reenrollable: number;
}

/** Counts the stored leads by where the sunset policy puts them, under the tracks file's settings. */
export function sunsetReport(leads: Iterable<Lead>, tracks: readonly Track[]): SunsetReport {
  const report: SunsetReport = { exhausted: 0, reengagement: 0, sunset: 0, reenrollable: 0 };
  const reengagement = reengagementTrack(tracks);
  for (const lead of leads) {
    if ((lead.sunset?.exhausted.length ?? 0) === 0) continue;
    report.exhausted++;
    if (isSunset(lead)) {
      report.sunset++;
      continue;
    }
    const stillSilent = lead.sunset?.exhausted.some((e) => exhaustedWithoutEvidence(lead, e.track)) ?? false;
    if (!stillSilent) report.reenrollable++;
    else if (reengagement && chooseTrack(asRequalified(lead), tracks)?.id === reengagement.id) report.reengagement++;
  }
  return report;
}

/** An unresponsive lead as its cool-off's end would requalify it (a lead again), to ask which track it would get. */
const asRequalified = (lead: Lead): Lead =>
  lead.stage === 'disqualified' && lead.disqualification === 'unresponsive' ? { ...lead, stage: 'lead' } : lead;
