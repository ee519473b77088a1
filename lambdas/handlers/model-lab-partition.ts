import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { labStore, logger } from '../adapters/aws.js';
import { PartitionInput, partitionExportFiles, type LabStore } from '../adapters/model-lab-run.js';

/**
 * "Shuffle export files" of the model lab's state machine (lib/model-lab.ts): one Distributed Map batch of a DynamoDB
 * export's data files, its lead and event items written to shuffle files by lead, so every lead's items meet in one
 * shard. Returns `{ files, items }`.
 */
export function createHandler(getStore: () => LabStore) {
  return middy<unknown, { files: number; items: number }>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => {
      const input = PartitionInput.parse(event);
      const result = await partitionExportFiles(getStore(), input);
      logger.info('export files shuffled', { runId: input.run.runId, ...result });
      return result;
    });
}

export const handler = createHandler(labStore);
