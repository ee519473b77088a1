import { clock, mailer, nurtureMailSettings, repository, unsubscribeKeys } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { sendTouch } from '../domain/nurture/nurture-tasks.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { nurtureTask } from './nurture-task.js';

/** "Send <touch>": eligibility, variant, SES send, `email_sent` (DESIGN §6). */
export const createHandler = nurtureTask(NurtureTaskInput, sendTouch, (r) => `NurtureTouch_${r.outcome}`);

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  plan: DEFAULT_NURTURE_PLAN,
  mailer: mailer(),
  mail: nurtureMailSettings(),
  signingKeys: unsubscribeKeys(),
}));
