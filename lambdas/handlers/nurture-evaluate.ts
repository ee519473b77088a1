import { clock, repository } from '../adapters/aws.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { markUnresponsive } from '../domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { evaluateLead } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-task.js';

/** "Re-evaluate lead": promoted, ended, unresponsive, or the next touch (DESIGN §6). */
export const createHandler = nurtureTask(NurtureTaskInput, evaluateLead, (r) => `NurtureDecision_${r.decision}`);

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  plan: DEFAULT_NURTURE_PLAN,
  markUnresponsive: (lead, now) => markUnresponsive(lead, scoringModel, now),
}));
