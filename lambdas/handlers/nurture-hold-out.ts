import { clock, repository } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { holdOutTouch } from '../domain/nurture/hold-out.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { experimentMetrics, nurtureTask } from './nurture-task.js';

/** "Held out: no mail (<touch>)": a held-out lead's touch, judged like a send and recorded (`touch_held_out`). */
export const createHandler = nurtureTask(
  NurtureTaskInput,
  holdOutTouch,
  (r) => `NurtureTouch_${r.outcome}`,
  experimentMetrics,
);

export const handler = createHandler(() => ({ leads: repository(), clock, plan: DEFAULT_NURTURE_PLAN }));
