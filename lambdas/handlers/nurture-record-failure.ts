import { logger } from '../adapters/runtime.js';
import { recordNurtureFailure } from '../domain/nurture/nurture-tasks.js';
import { RecordFailureInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-runtime.js';

/** "Record failure": a step failed for good; log it, count it, and mark the lead's run stopped. */
export const { createHandler, handler } = nurtureTask(
  RecordFailureInput,
  async (deps, input) => {
    logger.error('nurture step failed', {
      leadId: input.leadId,
      track: input.track,
      executionName: input.executionName,
      error: input.error,
    });
    return recordNurtureFailure(deps, input);
  },
  () => 'NurtureFailures',
);
