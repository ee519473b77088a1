import { clock, repository } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { handOffToSales } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-task.js';

/** "Hand off to sales": ends the run of a promoted lead; the promotion was published with its transition (DESIGN §5). */
export const createHandler = nurtureTask(NurtureTaskInput, handOffToSales, () => 'NurtureHandoffs');

export const handler = createHandler(() => ({ leads: repository(), clock, plan: DEFAULT_NURTURE_PLAN }));
