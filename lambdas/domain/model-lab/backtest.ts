import * as z from 'zod';
import { DAY_MS } from '../clock.js';
import type { ScoringModel } from '../scoring/index.js';
import {
  Grid,
  gridFor,
  meetsMql,
  meetsSql,
  mqlBarOf,
  reachOf,
  sqlBarOf,
  type MqlBar,
  type SqlBar,
} from './calibration.js';
import { confusion, deciles, distribution, median, rates, type Scored } from './metrics.js';
import { outcomeOf } from './outcomes.js';
import { replayLead, type Checkpoint, type Explanation, type LeadLog, type LeadReplay } from './replay.js';

/**
 * The backtest (DESIGN §11, docs/model-lab.md) as a mergeable tally: every lead is folded into a {@link Tally}
 * (counts, a few numbers per labeled lead, bounded examples), tallies of separate readers (scan segments, worker
 * threads, Distributed Map batches) merge, and {@link finalize} turns one into the report. Pure.
 */

/** How far a lead got before its outcome under one model. */
export type Predicted = 'none' | 'mql' | 'sql';

/** When a lead first met a bar, with its scores then. */
export interface Reached {
  readonly atMs: number;
  readonly fit: number;
  readonly engagement: number;
}

/** One labeled lead's prediction under one model (its own thresholds) and its grid summary. */
export interface Prediction {
  readonly predicted: Predicted;
  readonly mql?: Reached;
  readonly sql?: Reached;
  readonly reach: ReturnType<typeof reachOf>;
}

const reachedAt = (cp: Checkpoint): Reached => ({ atMs: cp.atMs, fit: cp.fit, engagement: cp.engagement });

/** The stages a replayed lead reaches under its model's thresholds, and what it reaches on the grid. */
export function predict(replay: LeadReplay, model: ScoringModel, grid: Grid = gridFor(model)): Prediction {
  const mqlBar = mqlBarOf(model);
  const sqlBar = sqlBarOf(model);
  const mqlAt = replay.checkpoints.find((cp) => meetsMql(cp, mqlBar));
  const sqlAt = replay.checkpoints.find((cp) => meetsSql(cp, model, sqlBar));
  return {
    predicted: sqlAt ? 'sql' : mqlAt ? 'mql' : 'none',
    ...(mqlAt && { mql: reachedAt(mqlAt) }),
    ...(sqlAt && { sql: reachedAt(sqlAt) }),
    reach: reachOf(replay.checkpoints, model, grid),
  };
}

/** Predicted-positive counts split by label. */
const Split = z.object({ pos: z.number().int(), neg: z.number().int() });
type Split = z.infer<typeof Split>;

const Explained = z.object({
  fit: z.number(),
  engagement: z.number(),
  total: z.number(),
  grade: z.string(),
  contributions: z.array(z.object({ label: z.string(), points: z.number(), kind: z.string() })),
});

/** A lead whose predicted stage differs between the models, as a report shows it. */
export const ChangeExample = z.object({
  leadId: z.string(),
  label: z.enum(['positive', 'negative']),
  outcome: z.string(),
  outcomeAt: z.string(),
  jobTitle: z.string().optional(),
  company: z.string().optional(),
  current: z.object({ predicted: z.enum(['none', 'mql', 'sql']), at: z.string().optional(), explanation: Explained }),
  candidate: z.object({ predicted: z.enum(['none', 'mql', 'sql']), at: z.string().optional(), explanation: Explained }),
  /** Orders examples deterministically whatever the reading order (a hash of the lead id). */
  rank: z.number(),
});
export type ChangeExample = z.infer<typeof ChangeExample>;

/** One model's share of a tally. */
export const ModelTally = z.object({
  grid: Grid,
  /** Flattened [fit index × engagement index]: leads that reach the MQL bar at that point, by label. */
  mql: z.object({ pos: z.array(z.number().int()), neg: z.array(z.number().int()) }),
  /** Flattened [BANT index × engagement index]. */
  sql: z.object({ pos: z.array(z.number().int()), neg: z.array(z.number().int()) }),
  current: z.object({ mql: Split, sql: Split }),
  /** Days from reaching the stage to a positive outcome, for the leads that did both. */
  leadTimesDays: z.object({ mql: z.array(z.number()), sql: z.array(z.number()) }),
  /** [score at the outcome, 1 if positive, lead id] per labeled lead: deciles and the score distribution. */
  scores: z.array(z.tuple([z.number(), z.union([z.literal(0), z.literal(1)]), z.string()])),
});
export type ModelTally = z.infer<typeof ModelTally>;

/** Everything a backtest has read so far; merge two with {@link mergeTallies}. */
export const Tally = z.object({
  /** Leads read (in the window or not). */
  leads: z.number().int(),
  labeled: z.number().int(),
  positives: z.number().int(),
  negatives: z.number().int(),
  unlabeled: z.number().int(),
  /** Labeled leads whose outcome falls outside --since/--until (read, not counted in the metrics). */
  outsideWindow: z.number().int(),
  /** Events read, and of those the evidence replayed (strictly before an outcome, labeled leads in the window). */
  events: z.number().int(),
  evidence: z.number().int(),
  current: ModelTally,
  candidate: ModelTally.optional(),
  changes: z
    .object({ moves: z.record(z.string(), z.number().int()), examples: z.record(z.string(), z.array(ChangeExample)) })
    .optional(),
});
export type Tally = z.infer<typeof Tally>;

/** What a backtest compares and over which outcomes. */
export interface BacktestSpec {
  readonly current: ScoringModel;
  readonly candidate?: ScoringModel;
  /** Only outcomes at or after this instant count (ms). */
  readonly sinceMs?: number;
  /** Only outcomes before this instant count (ms). */
  readonly untilMs?: number;
  /** Examples kept per move between the models. @default 5 */
  readonly examples?: number;
}

function emptyModelTally(model: ScoringModel): ModelTally {
  const grid = gridFor(model);
  const mqlCells = grid.mqlFit.length * grid.mqlEngagement.length;
  const sqlCells = grid.sqlBant.length * grid.sqlEngagement.length;
  return {
    grid,
    mql: { pos: new Array<number>(mqlCells).fill(0), neg: new Array<number>(mqlCells).fill(0) },
    sql: { pos: new Array<number>(sqlCells).fill(0), neg: new Array<number>(sqlCells).fill(0) },
    current: { mql: { pos: 0, neg: 0 }, sql: { pos: 0, neg: 0 } },
    leadTimesDays: { mql: [], sql: [] },
    scores: [],
  };
}

export function emptyTally(spec: BacktestSpec): Tally {
  return {
    leads: 0,
    labeled: 0,
    positives: 0,
    negatives: 0,
    unlabeled: 0,
    outsideWindow: 0,
    events: 0,
    evidence: 0,
    current: emptyModelTally(spec.current),
    ...(spec.candidate && { candidate: emptyModelTally(spec.candidate), changes: { moves: {}, examples: {} } }),
  };
}

function addPrediction(t: ModelTally, replay: LeadReplay, p: Prediction): void {
  const positive = replay.label === 'positive';
  const bump = (s: Split) => (positive ? s.pos++ : s.neg++);
  const cells = positive ? t.mql.pos : t.mql.neg;
  p.reach.mql.forEach((maxEngagement, i) => {
    t.grid.mqlEngagement.forEach((e, j) => {
      const k = i * t.grid.mqlEngagement.length + j;
      if (maxEngagement >= e) cells[k] = (cells[k] ?? 0) + 1;
    });
  });
  const sqlCells = positive ? t.sql.pos : t.sql.neg;
  p.reach.sql.forEach((maxEngagement, i) => {
    t.grid.sqlEngagement.forEach((e, j) => {
      const k = i * t.grid.sqlEngagement.length + j;
      if (maxEngagement >= e) sqlCells[k] = (sqlCells[k] ?? 0) + 1;
    });
  });
  if (p.mql) {
    bump(t.current.mql);
    if (positive) t.leadTimesDays.mql.push((replay.outcomeAtMs - p.mql.atMs) / DAY_MS);
  }
  if (p.sql) {
    bump(t.current.sql);
    if (positive) t.leadTimesDays.sql.push((replay.outcomeAtMs - p.sql.atMs) / DAY_MS);
  }
  t.scores.push([replay.atOutcome.total, positive ? 1 : 0, replay.leadId]);
}

/** A stable pseudo-random rank of a lead id (FNV-1a), so examples do not depend on reading order. */
export function rankOf(leadId: string): number {
  let h = 2166136261;
  for (let i = 0; i < leadId.length; i++) {
    h ^= leadId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function side(p: Prediction, explanation: Explanation) {
  const at = p.predicted === 'sql' ? p.sql?.atMs : p.predicted === 'mql' ? p.mql?.atMs : undefined;
  return { predicted: p.predicted, ...(at !== undefined && { at: iso(at) }), explanation };
}

function keepExample(list: ChangeExample[], example: ChangeExample, limit: number): void {
  list.push(example);
  list.sort((a, b) => a.rank - b.rank || (a.leadId < b.leadId ? -1 : 1));
  if (list.length > limit) list.length = limit;
}

/** Folds one lead (its whole log) into the tally. Mutates and returns `tally`. */
export function addLead(tally: Tally, log: LeadLog, spec: BacktestSpec): Tally {
  tally.leads++;
  tally.events += log.events.length;
  const outcome = outcomeOf(log.events);
  if (!outcome) {
    tally.unlabeled++;
    return tally;
  }
  const at = outcome.first.atMs;
  if ((spec.sinceMs !== undefined && at < spec.sinceMs) || (spec.untilMs !== undefined && at >= spec.untilMs)) {
    tally.outsideWindow++;
    return tally;
  }
  const replay = replayLead(log, spec.current);
  if (!replay) return tally;
  tally.labeled++;
  if (replay.label === 'positive') tally.positives++;
  else tally.negatives++;
  tally.evidence += replay.evidence;
  const current = predict(replay, spec.current, tally.current.grid);
  addPrediction(tally.current, replay, current);
  if (!spec.candidate || !tally.candidate || !tally.changes) return tally;
  const other = replayLead(log, spec.candidate);
  if (!other) return tally;
  const candidate = predict(other, spec.candidate, tally.candidate.grid);
  addPrediction(tally.candidate, other, candidate);
  if (candidate.predicted !== current.predicted) {
    const move = `${current.predicted} → ${candidate.predicted}`;
    tally.changes.moves[move] = (tally.changes.moves[move] ?? 0) + 1;
    keepExample(
      (tally.changes.examples[move] ??= []),
      {
        leadId: replay.leadId,
        label: replay.label,
        outcome: replay.outcomeType,
        outcomeAt: iso(replay.outcomeAtMs),
        ...replay.profile,
        current: side(current, replay.atOutcome),
        candidate: side(candidate, other.atOutcome),
        rank: rankOf(replay.leadId),
      },
      spec.examples ?? 5,
    );
  }
  return tally;
}

const sumInto = (a: number[], b: readonly number[]): number[] => a.map((x, i) => x + (b[i] ?? 0));

function mergeModel(a: ModelTally, b: ModelTally): ModelTally {
  if (JSON.stringify(a.grid) !== JSON.stringify(b.grid)) throw new Error('cannot merge tallies of different models');
  return {
    grid: a.grid,
    mql: { pos: sumInto(a.mql.pos, b.mql.pos), neg: sumInto(a.mql.neg, b.mql.neg) },
    sql: { pos: sumInto(a.sql.pos, b.sql.pos), neg: sumInto(a.sql.neg, b.sql.neg) },
    current: {
      mql: { pos: a.current.mql.pos + b.current.mql.pos, neg: a.current.mql.neg + b.current.mql.neg },
      sql: { pos: a.current.sql.pos + b.current.sql.pos, neg: a.current.sql.neg + b.current.sql.neg },
    },
    leadTimesDays: {
      mql: [...a.leadTimesDays.mql, ...b.leadTimesDays.mql],
      sql: [...a.leadTimesDays.sql, ...b.leadTimesDays.sql],
    },
    scores: [...a.scores, ...b.scores],
  };
}

/** The tally of both tallies' leads (of the same models and window). */
export function mergeTallies(a: Tally, b: Tally, examples = 5): Tally {
  const merged: Tally = {
    leads: a.leads + b.leads,
    labeled: a.labeled + b.labeled,
    positives: a.positives + b.positives,
    negatives: a.negatives + b.negatives,
    unlabeled: a.unlabeled + b.unlabeled,
    outsideWindow: a.outsideWindow + b.outsideWindow,
    events: a.events + b.events,
    evidence: a.evidence + b.evidence,
    current: mergeModel(a.current, b.current),
  };
  if (a.candidate && b.candidate && a.changes && b.changes) {
    const moves: Record<string, number> = { ...a.changes.moves };
    for (const [move, n] of Object.entries(b.changes.moves)) moves[move] = (moves[move] ?? 0) + n;
    const exampleLists: Record<string, ChangeExample[]> = {};
    for (const move of new Set([...Object.keys(a.changes.examples), ...Object.keys(b.changes.examples)])) {
      const list: ChangeExample[] = [];
      for (const e of [...(a.changes.examples[move] ?? []), ...(b.changes.examples[move] ?? [])])
        keepExample(list, e, examples);
      exampleLists[move] = list;
    }
    return { ...merged, candidate: mergeModel(a.candidate, b.candidate), changes: { moves, examples: exampleLists } };
  }
  if (a.candidate || b.candidate) throw new Error('cannot merge a tally with a candidate and one without');
  return merged;
}

// ---------------------------------------------------------------------------------------------------------------
// The report

const Nullable = z.number().nullable();
const StageMetrics = z.object({
  tp: z.number().int(),
  fp: z.number().int(),
  fn: z.number().int(),
  tn: z.number().int(),
  precision: Nullable,
  recall: Nullable,
  f1: Nullable,
  /** Leads the model flagged (tp + fp). */
  flagged: z.number().int(),
  /** Median days from reaching the stage to a positive outcome (true positives only). */
  medianLeadTimeDays: Nullable,
});
export type StageMetrics = z.infer<typeof StageMetrics>;

const ThresholdPoint = z.object({
  stage: z.enum(['mql', 'sql']),
  /** MQL points: the fit and engagement bar. */
  fit: z.number().optional(),
  engagement: z.number().optional(),
  /** SQL points: BANT answers and engagement (on top of the model's MQL bar and high-intent rule). */
  minBantAnswers: z.number().int().optional(),
  minEngagement: z.number().optional(),
  tp: z.number().int(),
  fp: z.number().int(),
  fn: z.number().int(),
  tn: z.number().int(),
  precision: Nullable,
  recall: Nullable,
  f1: Nullable,
  /** True for the model's own setting. */
  current: z.boolean(),
});
export type ThresholdPoint = z.infer<typeof ThresholdPoint>;

const Recommendation = z.object({
  objective: z.enum(['max-f1', 'target-precision']),
  targetPrecision: z.number().optional(),
  mql: ThresholdPoint.nullable(),
  sql: ThresholdPoint.nullable(),
  /** Why a stage has no recommendation (e.g. no grid point reaches the target precision). */
  notes: z.array(z.string()),
});

export const ModelReport = z.object({
  thresholds: z.object({
    mql: z.object({ fit: z.number(), engagement: z.number() }),
    sql: z.object({ minBantAnswers: z.number(), minEngagement: z.number() }),
  }),
  stages: z.object({ mql: StageMetrics, sql: StageMetrics }),
  deciles: z.array(
    z.object({
      decile: z.number().int(),
      leads: z.number().int(),
      positives: z.number().int(),
      rate: Nullable,
      lift: Nullable,
      minScore: Nullable,
      maxScore: Nullable,
    }),
  ),
  /** Score at the outcome, by outcome: the histogram behind the distribution chart. */
  distribution: z.array(
    z.object({ from: z.number(), to: z.number(), positives: z.number().int(), negatives: z.number().int() }),
  ),
  /** Every grid point with its metrics: the trade-off curves. */
  thresholdGrid: z.array(ThresholdPoint),
  recommended: Recommendation,
});
export type ModelReport = z.infer<typeof ModelReport>;

/** The `--json` document (docs/model-lab.md): the current model's figures at the top level, the candidate's beside. */
export const BacktestReport = z.object({
  leads: z.number().int(),
  labeled: z.number().int(),
  positives: z.number().int(),
  negatives: z.number().int(),
  unlabeled: z.number().int(),
  outsideWindow: z.number().int(),
  events: z.number().int(),
  evidence: z.number().int(),
  window: z.object({ since: z.string().nullable(), until: z.string().nullable() }),
  stages: ModelReport.shape.stages,
  deciles: ModelReport.shape.deciles,
  distribution: ModelReport.shape.distribution,
  /** The trade-off curves: every grid point of both stages. */
  thresholds: z.array(ThresholdPoint),
  recommended: Recommendation,
  current: ModelReport.shape.thresholds,
  candidate: ModelReport.optional(),
  changes: z
    .object({
      leads: z.number().int(),
      moves: z.record(z.string(), z.number().int()),
      examples: z.array(ChangeExample),
    })
    .optional(),
});
export type BacktestReport = z.infer<typeof BacktestReport>;

export interface FinalizeOptions {
  /** Recommend the highest recall at this precision or better, instead of the highest F1. */
  readonly targetPrecision?: number;
  readonly sinceMs?: number;
  readonly untilMs?: number;
}

function stageMetrics(split: Split, positives: number, negatives: number, leadTimes: readonly number[]): StageMetrics {
  const c = confusion(split.pos, split.neg, positives, negatives);
  return { ...c, ...rates(c), flagged: split.pos + split.neg, medianLeadTimeDays: median(leadTimes) };
}

function gridPoints(
  t: ModelTally,
  positives: number,
  negatives: number,
  mqlBar: MqlBar,
  sqlBar: SqlBar,
): ThresholdPoint[] {
  const point = (pos: number, neg: number) => {
    const c = confusion(pos, neg, positives, negatives);
    return { ...c, ...rates(c) };
  };
  const points: ThresholdPoint[] = [];
  t.grid.mqlFit.forEach((fit, i) =>
    t.grid.mqlEngagement.forEach((engagement, j) => {
      const k = i * t.grid.mqlEngagement.length + j;
      points.push({
        stage: 'mql',
        fit,
        engagement,
        ...point(t.mql.pos[k] ?? 0, t.mql.neg[k] ?? 0),
        current: fit === mqlBar.fit && engagement === mqlBar.engagement,
      });
    }),
  );
  t.grid.sqlBant.forEach((minBantAnswers, i) =>
    t.grid.sqlEngagement.forEach((minEngagement, j) => {
      const k = i * t.grid.sqlEngagement.length + j;
      points.push({
        stage: 'sql',
        minBantAnswers,
        minEngagement,
        ...point(t.sql.pos[k] ?? 0, t.sql.neg[k] ?? 0),
        current: minBantAnswers === sqlBar.minBantAnswers && minEngagement === sqlBar.minEngagement,
      });
    }),
  );
  return points;
}

/** Ranks grid points for a recommendation: the objective, then precision, then the one closest to the current bar. */
function best(points: ThresholdPoint[], objective: (p: ThresholdPoint) => number | null): ThresholdPoint | null {
  let chosen: ThresholdPoint | null = null;
  let chosenScore = -Infinity;
  for (const p of points) {
    const score = objective(p);
    if (score === null) continue;
    const better =
      score > chosenScore ||
      (score === chosenScore &&
        chosen !== null &&
        ((p.precision ?? 0) > (chosen.precision ?? 0) ||
          (p.current && (p.precision ?? 0) === (chosen.precision ?? 0))));
    if (better) {
      chosen = p;
      chosenScore = score;
    }
  }
  return chosen;
}

function recommend(points: ThresholdPoint[], targetPrecision: number | undefined): z.infer<typeof Recommendation> {
  const notes: string[] = [];
  const pick = (stage: 'mql' | 'sql') => {
    const ofStage = points.filter((p) => p.stage === stage);
    const chosen =
      targetPrecision === undefined
        ? best(ofStage, (p) => (p.f1 !== null && p.f1 > 0 ? p.f1 : null))
        : best(ofStage, (p) =>
            p.precision !== null && p.precision >= targetPrecision && p.recall !== null ? p.recall : null,
          );
    if (!chosen)
      notes.push(
        targetPrecision === undefined
          ? `${stage}: no threshold flags any positive lead`
          : `${stage}: no threshold of the grid reaches precision ${targetPrecision}`,
      );
    return chosen;
  };
  return {
    objective: targetPrecision === undefined ? 'max-f1' : 'target-precision',
    ...(targetPrecision !== undefined && { targetPrecision }),
    mql: pick('mql'),
    sql: pick('sql'),
    notes,
  };
}

function modelReport(
  t: ModelTally,
  model: ScoringModel,
  positives: number,
  negatives: number,
  options: FinalizeOptions,
): ModelReport {
  const scored: Scored[] = t.scores.map(([score, positive, key]) => ({ score, positive: positive === 1, key }));
  const mqlBar = mqlBarOf(model);
  const sqlBar = sqlBarOf(model);
  const thresholdGrid = gridPoints(t, positives, negatives, mqlBar, sqlBar);
  return {
    thresholds: { mql: { ...mqlBar }, sql: { ...sqlBar } },
    stages: {
      mql: stageMetrics(t.current.mql, positives, negatives, t.leadTimesDays.mql),
      sql: stageMetrics(t.current.sql, positives, negatives, t.leadTimesDays.sql),
    },
    deciles: deciles(scored),
    distribution: distribution(scored),
    thresholdGrid,
    recommended: recommend(thresholdGrid, options.targetPrecision),
  };
}

/** The report of a tally: the current model's figures, the candidate's beside them, and what changes between them. */
export function finalize(tally: Tally, spec: BacktestSpec, options: FinalizeOptions = {}): BacktestReport {
  const { positives, negatives } = tally;
  const current = modelReport(tally.current, spec.current, positives, negatives, options);
  const candidate =
    tally.candidate && spec.candidate
      ? modelReport(tally.candidate, spec.candidate, positives, negatives, options)
      : undefined;
  const examples = tally.changes
    ? Object.entries(tally.changes.moves)
        .sort((a, b) => b[1] - a[1])
        .flatMap(([move]) => tally.changes?.examples[move] ?? [])
    : [];
  return {
    leads: tally.leads,
    labeled: tally.labeled,
    positives,
    negatives,
    unlabeled: tally.unlabeled,
    outsideWindow: tally.outsideWindow,
    events: tally.events,
    evidence: tally.evidence,
    window: {
      since: options.sinceMs !== undefined ? iso(options.sinceMs) : null,
      until: options.untilMs !== undefined ? iso(options.untilMs) : null,
    },
    stages: current.stages,
    deciles: current.deciles,
    distribution: current.distribution,
    thresholds: current.thresholdGrid,
    recommended: current.recommended,
    current: current.thresholds,
    ...(candidate && { candidate }),
    ...(tally.changes && {
      changes: {
        leads: Object.values(tally.changes.moves).reduce((s, n) => s + n, 0),
        moves: tally.changes.moves,
        examples,
      },
    }),
  };
}
