import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { backtestShard, ShardInput } from '../adapters/model-lab-run.js';
import { logger } from '../adapters/runtime.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { s3LabStore } from '../adapters/s3-lab-store.js';

const store = s3LabStore();

/**
 * "Backtest shard" of the model lab's state machine: one shard's leads replayed up to their outcomes under the
 * deployed model (and the run's candidate), folded into a partial tally in the bucket. Returns the shard's counts.
 */
export const handler = middy<unknown, Awaited<ReturnType<typeof backtestShard>>>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const input = ShardInput.parse(event);
    const result = await backtestShard(store, input, scoringModel);
    logger.info('shard backtested', { runId: input.run.runId, ...result });
    return result;
  });
