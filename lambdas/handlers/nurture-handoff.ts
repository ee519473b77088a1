import { handOffToSales } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-runtime.js';

/** "Hand off to sales": `LeadPromoted` with the lead summary and score explanation (DESIGN §6). */
export const { createHandler, handler } = nurtureTask(NurtureTaskInput, handOffToSales, () => 'NurtureHandoffs');
