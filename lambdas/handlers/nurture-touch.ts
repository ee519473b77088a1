import { clock, mailer, nurtureMailSettings, repository, sendingStore, unsubscribeKeys } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { sendTouch } from '../domain/nurture/send-touch.js';
import { NurtureTaskInput } from '../domain/nurture/steps.js';
import { experimentMetrics, nurtureTask } from './nurture-task.js';

/** "Send <touch>": the owning run, eligibility, the brake, the claim, SES send, `email_sent` (DESIGN §6). */
export const createHandler = nurtureTask(
  NurtureTaskInput,
  sendTouch,
  (r) => `NurtureTouch_${r.outcome}`,
  experimentMetrics,
);

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  plan: DEFAULT_NURTURE_PLAN,
  mailer: mailer(),
  mail: nurtureMailSettings(),
  signingKeys: unsubscribeKeys(),
  sending: sendingStore(),
}));
