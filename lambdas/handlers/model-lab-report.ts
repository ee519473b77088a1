import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { ReportInput, writeReport } from '../adapters/model-lab-run.js';
import { clock, logger } from '../adapters/runtime.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { s3LabStore } from '../adapters/s3-lab-store.js';

const store = s3LabStore();

/**
 * "Write report" of the model lab's state machine (the reduce): every shard's partial merged, the report written to
 * the bucket as `runs/<runId>/report.json` and `report.html`. Returns their keys and the headline counts.
 */
export const handler = middy<unknown, Awaited<ReturnType<typeof writeReport>>>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const input = ReportInput.parse(event);
    const result = await writeReport(store, input, scoringModel, clock.now());
    logger.info('model lab report written', {
      runId: input.run.runId,
      json: result.json,
      html: result.html,
      ...result.report,
    });
    return result;
  });
