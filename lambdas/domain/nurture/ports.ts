import type { Arm } from '../lead.js';
import type { NurtureRun } from './enrollment.js';
import type { TemplateData } from './template-data.js';

/** One nurture email, rendered by the mail service from a stored template. */
export interface OutgoingEmail {
  to: string;
  from: string;
  /** The SES template (see `sesTemplateName`). */
  templateName: string;
  templateData: TemplateData;
  /** Routes SES's sending events (delivery, open, click, bounce…) back to the engagement handler. */
  configurationSetName: string;
  /** Message tags that come back on every sending event: lead, track, touch. */
  tags: Record<string, string>;
  /** Extra headers, e.g. RFC 8058 `List-Unsubscribe` and `List-Unsubscribe-Post`. */
  headers: { name: string; value: string }[];
}

/**
 * Sends email (adapters/ses-mailer). Throws `RetryableError` for transient failures before the service accepted the
 * message, `MailRejectedError` when it refused the message for good, and `MailOutcomeUnknownError` when it may have
 * accepted it (no answer): the caller must not send that one again.
 */
export interface Mailer {
  send(email: OutgoingEmail): Promise<{ messageId: string }>;
}

/** What a nurture run starts with: the state machine's execution input. */
export interface NurtureStart {
  leadId: string;
  track: string;
  executionName: string;
  /** The track's experiment and the lead's arm, when the track runs one: the state machine branches on the arm. */
  experimentId?: string;
  arm?: Arm;
}

/**
 * Starts and stops nurture runs (adapters/sfn-nurture-starter on AWS, lib/local/stepfunctions locally). The
 * execution name is the dedup key: starting a name again is a no-op that answers `already_running`.
 */
export interface NurtureStarter {
  start(input: NurtureStart): Promise<'started' | 'already_running'>;
  stop(run: NurtureRun): Promise<'stopped' | 'not_running'>;
}
