import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger, metrics } from '../adapters/aws.js';

/** A Step Functions task as Lambda runs it: an event in, the next state document out. */
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
): (getDeps: () => D) => NurtureTaskHandler<O> {
  return (getDeps) => {
    const pipeline = middy()
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics))
      .handler(async (event: unknown) => {
        const result = await run(getDeps(), schema.parse(event));
        metrics.addMetric(metric(result), MetricUnit.Count, 1);
        return result;
      });
    return async (event, context) => pipeline(event, context);
  };
}
