import * as z from 'zod';
import { DAY_MS } from '../clock.js';
import type { ScoringModel } from '../scoring/index.js';
import type { Checkpoint } from './replay.js';

/**
 * Threshold calibration (DESIGN §11): the MQL bar (fit × engagement) and the SQL bar (BANT answers × engagement)
 * swept over a grid built from the model's own thresholds, so the model's current setting is one of its points.
 */

/** The thresholds a calibration sweeps. */
export const Grid = z.object({
  /** MQL: minimum fit. */
  mqlFit: z.array(z.number()),
  /** MQL: minimum engagement. */
  mqlEngagement: z.array(z.number()),
  /** SQL: minimum BANT answers that count as evidence. */
  sqlBant: z.array(z.number().int()),
  /** SQL: minimum engagement (never below the MQL bar: an SQL is an MQL first). */
  sqlEngagement: z.array(z.number()),
});
export type Grid = z.infer<typeof Grid>;

/** The MQL bar of a model. */
export interface MqlBar {
  readonly fit: number;
  readonly engagement: number;
}

/** The SQL bar of a model, on top of its MQL bar and high-intent rule. */
export interface SqlBar {
  readonly minBantAnswers: number;
  /** The engagement an SQL needs: the higher of the MQL bar and `sql.minEngagement`. */
  readonly minEngagement: number;
}

export const mqlBarOf = (model: ScoringModel): MqlBar => model.thresholds.mql;

export function sqlBarOf(model: ScoringModel): SqlBar {
  const { mql, sql } = model.thresholds;
  return {
    minBantAnswers: sql.minBantAnswers,
    minEngagement: Math.max(mql.engagement, sql.minEngagement ?? -Infinity),
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const sortedUnique = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

/**
 * The grid around a model's thresholds: MQL fit from 30 below to 30 above in steps of 5 (never below the not-a-fit
 * bar, which the model requires), MQL engagement from a tenth to four times the current bar in tenths of it, all
 * BANT counts, and SQL engagement from the MQL bar to four times it.
 */
export function gridFor(model: ScoringModel): Grid {
  const { mql, notAFit } = model.thresholds;
  const sqlBar = sqlBarOf(model);
  return {
    mqlFit: sortedUnique([mql.fit, ...Array.from({ length: 13 }, (_, k) => mql.fit + (k - 6) * 5)]).filter(
      (f) => f >= notAFit.fitBelow,
    ),
    mqlEngagement: sortedUnique([
      mql.engagement,
      ...Array.from({ length: 40 }, (_, j) => round2((mql.engagement * (j + 1)) / 10)),
    ]),
    sqlBant: [0, 1, 2, 3, 4],
    sqlEngagement: sortedUnique([
      sqlBar.minEngagement,
      ...[1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4].map((x) => round2(mql.engagement * x)),
    ]).filter((e) => e >= mql.engagement),
  };
}

/** True if the lead, at this checkpoint, meets the MQL bar. */
export const meetsMql = (cp: Checkpoint, bar: MqlBar): boolean => cp.fit >= bar.fit && cp.engagement >= bar.engagement;

/**
 * True if the lead, at this checkpoint, meets the SQL rules of `model` except the SQL bar's two swept knobs: the MQL
 * bar, a high-intent action within the window, and `sql.minFit`.
 */
export function meetsSqlRules(cp: Checkpoint, model: ScoringModel): boolean {
  const { sql } = model.thresholds;
  return (
    meetsMql(cp, mqlBarOf(model)) &&
    cp.lastHighIntentMs !== undefined &&
    cp.lastHighIntentMs >= cp.atMs - sql.highIntentWithinDays * DAY_MS &&
    cp.fit >= (sql.minFit ?? -Infinity)
  );
}

export const meetsSql = (cp: Checkpoint, model: ScoringModel, bar: SqlBar): boolean =>
  meetsSqlRules(cp, model) && cp.bant >= bar.minBantAnswers && cp.engagement >= bar.minEngagement;

/**
 * What one lead's checkpoints say for every grid point, compactly: for each MQL fit value the highest engagement
 * it had while meeting that fit (so it reaches (fit, e) exactly when e is at most that), and for each BANT count the
 * highest engagement it had while meeting the SQL rules with that many answers.
 */
export interface Reach {
  readonly mql: readonly number[];
  readonly sql: readonly number[];
}

export function reachOf(checkpoints: readonly Checkpoint[], model: ScoringModel, grid: Grid): Reach {
  const mql = grid.mqlFit.map(() => -Infinity);
  const sql = grid.sqlBant.map(() => -Infinity);
  for (const cp of checkpoints) {
    grid.mqlFit.forEach((fit, i) => {
      if (cp.fit >= fit && cp.engagement > (mql[i] ?? -Infinity)) mql[i] = cp.engagement;
    });
    if (!meetsSqlRules(cp, model)) continue;
    grid.sqlBant.forEach((bant, i) => {
      if (cp.bant >= bant && cp.engagement > (sql[i] ?? -Infinity)) sql[i] = cp.engagement;
    });
  }
  return { mql, sql };
}
