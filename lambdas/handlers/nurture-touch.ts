import { sendTouch } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-runtime.js';

/** "Send <touch>": eligibility, variant, SES send, `email_sent` (DESIGN §6). */
export const { createHandler, handler } = nurtureTask(NurtureTaskInput, sendTouch, (r) => `NurtureTouch_${r.outcome}`);
