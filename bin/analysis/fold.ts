import * as z from 'zod';
import { assertNever } from '../../lambdas/domain/errors.js';
import {
  addLead,
  emptyTally,
  mergeTallies,
  type BacktestSpec,
  type Tally,
} from '../../lambdas/domain/model-lab/backtest.js';
import type { LeadLog } from '../../lambdas/domain/model-lab/replay.js';
import { parseModel } from '../../lambdas/domain/scoring/index.js';
import {
  addToComparison,
  emptyComparison,
  mergeComparisons,
  type ComparisonTally,
} from '../../lambdas/domain/simulation.js';

/**
 * The CPU side of an analysis over the lead table (the backtest, the model preview), as a fold: leads go in one by
 * one, a tally comes out, and tallies of separate folds merge. The same fold runs in-process or in worker threads
 * (bin/analysis/pool.ts); its task is plain data so that it crosses to a worker as a message.
 */
export const AnalysisTask = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('backtest'),
    current: z.unknown(),
    candidate: z.unknown().optional(),
    sinceMs: z.number().optional(),
    untilMs: z.number().optional(),
    examples: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('simulate'),
    current: z.unknown(),
    candidate: z.unknown(),
    asOf: z.string(),
    examples: z.number().int().positive(),
  }),
]);
export type AnalysisTask = z.infer<typeof AnalysisTask>;

export type TallyOf<T extends AnalysisTask> = T extends { kind: 'backtest' } ? Tally : ComparisonTally;

export interface Fold<R> {
  add(log: LeadLog): void;
  result(): R;
  merge(a: R, b: R): R;
}

/** The backtest spec of a task (models validated again: the task may have crossed a thread boundary). */
export function backtestSpec(task: Extract<AnalysisTask, { kind: 'backtest' }>): BacktestSpec {
  return {
    current: parseModel(task.current),
    ...(task.candidate !== undefined && { candidate: parseModel(task.candidate) }),
    ...(task.sinceMs !== undefined && { sinceMs: task.sinceMs }),
    ...(task.untilMs !== undefined && { untilMs: task.untilMs }),
    examples: task.examples,
  };
}

export function foldFor(task: AnalysisTask): Fold<Tally> | Fold<ComparisonTally> {
  switch (task.kind) {
    case 'backtest': {
      const spec = backtestSpec(task);
      const tally = emptyTally(spec);
      return {
        add: (log) => void addLead(tally, log, spec),
        result: () => tally,
        merge: (a: Tally, b: Tally) => mergeTallies(a, b, task.examples),
      };
    }
    case 'simulate': {
      const current = parseModel(task.current);
      const candidate = parseModel(task.candidate);
      const asOf = new Date(task.asOf);
      const tally = emptyComparison();
      return {
        add: (log) => void addToComparison(tally, log, current, candidate, asOf, task.examples),
        result: () => tally,
        merge: (a: ComparisonTally, b: ComparisonTally) => mergeComparisons(a, b, task.examples),
      };
    }
    default:
      return assertNever(task);
  }
}
