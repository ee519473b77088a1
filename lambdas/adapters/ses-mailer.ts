import { SendEmailCommand, SESv2ServiceException, type SESv2Client } from '@aws-sdk/client-sesv2';
import { MailOutcomeUnknownError, MailRejectedError, RetryableError } from '../domain/nurture/errors.js';
import type { Mailer, OutgoingEmail } from '../domain/nurture/ports.js';
import { maskLogText } from './log-masking.js';

/** SES errors that say "not now" rather than "never". */
const TRANSIENT = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'Throttling',
  'ThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
]);

/** Failures before a request reaches SES (nothing was sent). Anything else without an answer may have been accepted. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CredentialsProviderError',
  'CredentialsError',
  'ERR_INVALID_URL',
]);

const errorCode = (e: unknown): string => {
  if (typeof e !== 'object' || e === null) return '';
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  const name = (e as { name?: unknown }).name;
  return typeof name === 'string' ? name : '';
};

/**
 * Sends nurture mail through SES v2 `SendEmail` with a stored template, the configuration set (so sending events
 * come back to the engagement handler), message tags and extra headers (RFC 8058 one-click unsubscribe).
 */
export class SesMailer implements Mailer {
  constructor(private readonly ses: SESv2Client) {}

  async send(email: OutgoingEmail): Promise<{ messageId: string }> {
    try {
      const out = await this.ses.send(
        new SendEmailCommand({
          FromEmailAddress: email.from,
          Destination: { ToAddresses: [email.to] },
          ConfigurationSetName: email.configurationSetName,
          EmailTags: Object.entries(email.tags).map(([Name, Value]) => ({ Name, Value: tagValue(Value) })),
          Content: {
            Template: {
              TemplateName: email.templateName,
              TemplateData: JSON.stringify(email.templateData),
              Headers: email.headers.map((h) => ({ Name: h.name, Value: h.value })),
            },
          },
        }),
      );
      if (!out.MessageId) throw new MailOutcomeUnknownError('SES accepted the message without a MessageId');
      return { messageId: out.MessageId };
    } catch (e) {
      if (e instanceof RetryableError || e instanceof MailOutcomeUnknownError) throw e;
      if (e instanceof SESv2ServiceException) {
        // SES names the addresses it refused in its messages; they travel on into step results and logs.
        const message = maskLogText(e.message);
        if (TRANSIENT.has(e.name) || e.$fault === 'server' || e.$retryable) {
          throw new RetryableError(`SES ${e.name}: ${message}`);
        }
        throw new MailRejectedError(`SES refused the message: ${message}`, e.name);
      }
      // No answer from SES. Only a request that provably never reached it may be sent again.
      if (NOT_SENT.has(errorCode(e))) throw new RetryableError(`SES not reached: ${errorCode(e)}`);
      throw new MailOutcomeUnknownError(
        `SES did not answer (${errorCode(e) || 'unknown error'}): the mail may have gone`,
      );
    }
  }
}

/** SES tag values allow letters, digits, `_`, `-`, `.`, `@` (up to 256 characters). */
const tagValue = (v: string): string => v.replace(/[^A-Za-z0-9_.@-]/g, '_').slice(0, 256) || '_';
