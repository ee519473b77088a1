import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { summarizeSweep, SweepRun, type SweepSummary } from '../domain/sweep.js';
import { eventBridge, logger, metrics, requiredSetting } from '../adapters/aws.js';
import { recordSweepMetrics, SweepSummaryPublisher } from '../adapters/sweep-summary.js';

/**
 * "Summarize" of the requalification state machine: sums the shards' counts, records them as metrics and publishes
 * the run's summary event. Returns the summary; the state machine fails the run if a shard failed (`failed` > 0).
 */
export function createHandler(getPublisher: () => Pick<SweepSummaryPublisher, 'publish'>) {
  return middy<unknown, SweepSummary>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .handler(async (event) => {
      const summary = summarizeSweep(SweepRun.parse(event));
      recordSweepMetrics(metrics, summary);
      await getPublisher().publish(summary);
      logger.info('requalification summary', { ...summary });
      if (summary.failed > 0) logger.error('requalification shards failed', { failedShards: summary.failedShards });
      return summary;
    });
}

let publisher: SweepSummaryPublisher | undefined;
export const handler = createHandler(
  () => (publisher ??= new SweepSummaryPublisher(eventBridge(), requiredSetting('EVENT_BUS_NAME'))),
);
