import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { ShardSweepInput, sweepShard, type ShardSweepResult, type SweepDeps } from '../domain/sweep.js';
import { clock, logger, nurtureStarter, repository } from '../adapters/aws.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { sweepDeps } from '../adapters/sweep-deps.js';

/**
 * "Sweep shard" of the requalification state machine: requalifies the shard's due leads from the cursor until none is
 * left or the invocation's time is nearly up, and returns `{ shard, asOf, cursor?, done, counts }`; the state machine
 * calls it again with that while `done` is false.
 */
export function createHandler(getDeps: () => SweepDeps) {
  return middy<unknown, ShardSweepResult>()
    .use(injectLambdaContext(logger))
    .handler(async (event, context) => {
      const input = ShardSweepInput.parse(event);
      const result = await sweepShard(getDeps(), input, () => context.getRemainingTimeInMillis());
      logger.debug('shard swept', { shard: result.shard, asOf: result.asOf, done: result.done, counts: result.counts });
      return result;
    });
}

let deps: SweepDeps | undefined;
export const handler = createHandler(
  () =>
    (deps ??= sweepDeps({
      repository: repository(),
      model: scoringModel,
      nurture: nurtureStarter(),
      tracks: DEFAULT_NURTURE_PLAN.tracks,
      clock,
      onActionFailure: (action, lead, error) =>
        logger.error('nurture call failed; the lead stays requalified', {
          action,
          leadId: lead.leadId,
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        }),
    })),
);
