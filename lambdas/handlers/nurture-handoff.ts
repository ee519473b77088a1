import { clock, leadEventsPublisher, repository } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { handOffToSales } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-task.js';

/** "Hand off to sales": `LeadPromoted` with the lead summary and score explanation (DESIGN §6). */
export const createHandler = nurtureTask(NurtureTaskInput, handOffToSales, () => 'NurtureHandoffs');

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  plan: DEFAULT_NURTURE_PLAN,
  publisher: leadEventsPublisher(),
}));
