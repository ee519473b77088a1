import { clock, logger, repository } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { recordNurtureFailure, type NurtureCoreDeps } from '../domain/nurture/nurture-tasks.js';
import { RecordFailureInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-task.js';

/** "Record failure": a step failed for good; log it, count it, and mark the lead's run stopped. */
export const createHandler = nurtureTask(
  RecordFailureInput,
  async (deps: NurtureCoreDeps, input) => {
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

export const handler = createHandler(() => ({ leads: repository(), clock, plan: DEFAULT_NURTURE_PLAN }));
