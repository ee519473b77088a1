import { SESv2ServiceException, type SESv2Client } from '@aws-sdk/client-sesv2';
import { describe, expect, it } from 'vitest';
import { SesMailer } from '../../../lambdas/adapters/ses-mailer.js';
import { MailOutcomeUnknownError, MailRejectedError, RetryableError } from '../../../lambdas/domain/nurture/errors.js';
import type { OutgoingEmail } from '../../../lambdas/domain/nurture/ports.js';

const email: OutgoingEmail = {
  to: 'ada@example.com',
  from: 'hello@leadloop.test',
  templateName: 'leadloop-newsletter-1--default',
  templateData: { html: {} as never, text: {} as never },
  configurationSetName: 'leadloop',
  tags: {},
  headers: [],
};

/** A mailer whose SES client fails with `error` (or answers `answer`). */
const mailer = (error?: unknown, answer: unknown = { MessageId: 'm-1' }) =>
  new SesMailer({
    send: async () => {
      if (error !== undefined) throw error;
      return answer;
    },
  } as unknown as SESv2Client);

const sesError = (name: string, fault: 'client' | 'server') =>
  new SESv2ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: fault === 'server' ? 500 : 400 } });

describe('SesMailer: what a failed send means for sending it again', () => {
  it('an answer from SES is a provable failure: retryable when transient, rejected for good otherwise', async () => {
    await expect(mailer(sesError('TooManyRequestsException', 'client')).send(email)).rejects.toThrow(RetryableError);
    await expect(mailer(sesError('MessageRejected', 'client')).send(email)).rejects.toThrow(MailRejectedError);
  });

  it('no answer (a timeout, a reset connection) may have been accepted: outcome unknown, never resent', async () => {
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await expect(mailer(timeout).send(email)).rejects.toThrow(MailOutcomeUnknownError);
    await expect(mailer(reset).send(email)).rejects.toThrow(MailOutcomeUnknownError);
    await expect(mailer(undefined, {}).send(email)).rejects.toThrow(MailOutcomeUnknownError);
  });

  it('a request that never reached SES (connection refused) is retryable', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await expect(mailer(refused).send(email)).rejects.toThrow(RetryableError);
  });
});
