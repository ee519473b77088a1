import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { labStore, logger } from '../adapters/aws.js';
import { backtestShard, ShardInput, type LabStore } from '../adapters/model-lab-run.js';
import { scoringModel } from '../adapters/scoring-model.js';

/**
 * "Backtest shard" of the model lab's state machine: one shard's leads replayed up to their outcomes under the
 * deployed model (and the run's candidate), folded into a partial tally in the bucket. Returns the shard's counts.
 */
export function createHandler(getStore: () => LabStore) {
  return middy<unknown, Awaited<ReturnType<typeof backtestShard>>>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => {
      const input = ShardInput.parse(event);
      const result = await backtestShard(getStore(), input, scoringModel);
      logger.info('shard backtested', { runId: input.run.runId, ...result });
      return result;
    });
}

export const handler = createHandler(labStore);
