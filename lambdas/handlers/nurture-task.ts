import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import { logger, metrics } from '../adapters/aws.js';
import type { TouchResult } from '../domain/nurture/steps.js';

/**
 * Per-arm counts of a track's experiment (docs/experiments.md), as EMF metrics with the dimensions `Track`,
 * `Experiment` and `Arm`: `ExperimentTouches` for every touch sent or held out, `ExperimentLeads` for the first
 * (a lead reaching the experiment). The dashboard draws them per arm (lib/observability.ts).
 */
export function experimentMetrics(result: TouchResult): void {
  if (result.arm === undefined || result.experimentId === undefined) return;
  if (result.outcome !== 'sent' && result.outcome !== 'held_out') return;
  if (result.reason === 'already_sent' || result.reason === 'already_recorded') return;
  const names = result.touch === 1 ? ['ExperimentTouches', 'ExperimentLeads'] : ['ExperimentTouches'];
  for (const name of names) {
    const single = metrics.singleMetric();
    single.addDimensions({ Track: result.track, Experiment: result.experimentId, Arm: result.arm });
    single.addMetric(name, MetricUnit.Count, 1);
  }
}

export type NurtureTaskHandler<O> = (event: unknown, context: Context) => Promise<O>;

/**
 * One nurture task Lambda: Powertools logging and metrics, the input parsed against its schema at the edge (a bad
 * input is a `ZodError`, which no retrier matches), then one use case on the dependencies `getDeps` builds (on first
 * use, so a function is given only what its task needs). Returns `createHandler`; each handler module exports
 * `handler = createHandler(<its AWS dependencies>)`, and tests build the same pipeline on theirs.
 */
export function nurtureTask<S extends z.ZodType, D, O>(
  schema: S,
  run: (deps: D, input: z.output<S>) => Promise<O>,
  metric: (result: O) => string,
  /** More metrics of a result (e.g. `experimentMetrics`). */
  more: (result: O) => void = () => undefined,
): (getDeps: () => D) => NurtureTaskHandler<O> {
  return (getDeps) => {
    const pipeline = middy()
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics))
      .handler(async (event: unknown) => {
        const result = await run(getDeps(), schema.parse(event));
        metrics.addMetric(metric(result), MetricUnit.Count, 1);
        more(result);
        return result;
      });
    return async (event, context) => pipeline(event, context);
  };
}
