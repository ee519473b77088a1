import {
  GetEmailTemplateCommand,
  NotFoundException,
  SendEmailCommand,
  SESv2ServiceException,
  type SESv2Client,
} from '@aws-sdk/client-sesv2';
import type { Clock } from '../domain/clock.js';
import { MailRejectedError, RetryableError } from '../domain/nurture/errors.js';
import type { Mailer, OutgoingEmail } from '../domain/nurture/ports.js';
import { renderTemplate } from '../domain/nurture/render.js';
import {
  instrumentHtml,
  localMessageId,
  postToLoopback,
  sendAndDeliveryRecords,
  type LocalTracking,
} from './local-ses-simulator.js';

/** SES errors that say "not now" rather than "never". */
const TRANSIENT = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'Throttling',
  'ThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
]);

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
      if (!out.MessageId) throw new RetryableError('SES accepted the message without a MessageId');
      return { messageId: out.MessageId };
    } catch (e) {
      if (e instanceof RetryableError) throw e;
      if (e instanceof SESv2ServiceException) {
        if (TRANSIENT.has(e.name) || e.$fault === 'server' || e.$retryable) {
          throw new RetryableError(`SES ${e.name}: ${e.message}`);
        }
        throw new MailRejectedError(`SES refused the message: ${e.message}`, e.name);
      }
      throw e;
    }
  }
}

/** SES tag values allow letters, digits, `_`, `-`, `.`, `@` (up to 256 characters). */
const tagValue = (v: string): string => v.replace(/[^A-Za-z0-9_.@-]/g, '_').slice(0, 256) || '_';

/**
 * The local mailer of `npm start` (DESIGN §9, engagement loop-back): renders the stored template itself, lets the
 * local SES simulator instrument the HTML with tracking links and an open pixel (as SES's open and click tracking
 * would), sends the rendered mail through local SES, and posts the Send and Delivery records SES would publish to the
 * local loop-back, so local mail moves engagement exactly as real mail does. The message id is made before the send,
 * because the tracking links carry it.
 */
export class LocalTrackingSesMailer implements Mailer {
  constructor(
    private readonly ses: SESv2Client,
    private readonly tracking: LocalTracking,
    private readonly clock: Clock,
    private readonly log: (line: string, data: Record<string, unknown>) => void,
  ) {}

  async send(email: OutgoingEmail): Promise<{ messageId: string }> {
    const stored = await this.ses
      .send(new GetEmailTemplateCommand({ TemplateName: email.templateName }))
      .catch((e: unknown) => {
        if (e instanceof NotFoundException) throw new MailRejectedError(`no template ${email.templateName}`, e.name);
        throw e;
      });
    const data = { html: { ...email.templateData.html }, text: { ...email.templateData.text } };
    const content = stored.TemplateContent ?? {};
    const subject = renderTemplate(content.Subject ?? '', data);
    const messageId = localMessageId();
    const mail = {
      messageId,
      to: email.to,
      from: email.from,
      subject,
      tags: email.tags,
      timestamp: this.clock.now(),
      configurationSet: email.configurationSetName,
    };
    const html = instrumentHtml(renderTemplate(content.Html ?? '', data), {
      ...mail,
      trackingBaseUrl: this.tracking.baseUrl,
      secret: this.tracking.secret,
    });
    const text = renderTemplate(content.Text ?? '', data);
    try {
      await this.ses.send(
        new SendEmailCommand({
          FromEmailAddress: email.from,
          Destination: { ToAddresses: [email.to] },
          ConfigurationSetName: email.configurationSetName,
          EmailTags: Object.entries(email.tags).map(([Name, Value]) => ({ Name, Value: tagValue(Value) })),
          Content: {
            Simple: {
              Subject: { Data: subject },
              Body: { Html: { Data: html }, Text: { Data: text } },
              Headers: email.headers.map((h) => ({ Name: h.name, Value: h.value })),
            },
          },
        }),
      );
    } catch (e) {
      throw new RetryableError(`local SES: ${e instanceof Error ? e.message : String(e)}`);
    }
    // The mail is out: a loop-back hiccup must not make the touch retry (and send twice).
    await postToLoopback(sendAndDeliveryRecords(mail), this.tracking.baseUrl).catch((e: unknown) =>
      this.log('local SES loop-back failed; engagement of this mail is not recorded', {
        messageId,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
    return { messageId };
  }
}
