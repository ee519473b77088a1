import { evaluateLead } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-runtime.js';

/** "Re-evaluate lead": promoted, ended, unresponsive, or the next touch (DESIGN §6). */
export const { createHandler, handler } = nurtureTask(
  NurtureTaskInput,
  evaluateLead,
  (r) => `NurtureDecision_${r.decision}`,
);
