import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { clock, labStore, logger } from '../adapters/aws.js';
import { ReportInput, writeReport, type LabStore } from '../adapters/model-lab-run.js';
import { scoringModel } from '../adapters/scoring-model.js';

/**
 * "Write report" of the model lab's state machine (the reduce): every shard's partial merged, the report written to
 * the bucket as `runs/<runId>/report.json` and `report.html`. Returns their keys and the headline counts.
 */
export function createHandler(getStore: () => LabStore) {
  return middy<unknown, Awaited<ReturnType<typeof writeReport>>>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => {
      const input = ReportInput.parse(event);
      const result = await writeReport(getStore(), input, scoringModel, clock.now());
      logger.info('model lab report written', {
        runId: input.run.runId,
        json: result.json,
        html: result.html,
        ...result.report,
      });
      return result;
    });
}

export const handler = createHandler(labStore);
