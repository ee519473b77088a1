import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { PartitionInput, partitionExportFiles } from '../adapters/model-lab-run.js';
import { logger } from '../adapters/runtime.js';
import { s3LabStore } from '../adapters/s3-lab-store.js';

const store = s3LabStore();

/**
 * "Shuffle export files" of the model lab's state machine (lib/model-lab.ts): one Distributed Map batch of a DynamoDB
 * export's data files, its lead and event items written to shuffle files by lead, so every lead's items meet in one
 * shard. Returns `{ files, items }`.
 */
export const handler = middy<unknown, { files: number; items: number }>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const input = PartitionInput.parse(event);
    const result = await partitionExportFiles(store, input);
    logger.info('export files shuffled', { runId: input.run.runId, ...result });
    return result;
  });
