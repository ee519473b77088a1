import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import * as z from 'zod';
import type { Clock } from '../../../lambdas/domain/clock.js';
import { renderTemplate } from '../../../lambdas/domain/nurture/render.js';
import type { LocalConfigurationSet, LocalEmailTemplate } from '../deployment.js';
import type { LocalEventBus } from './event-bus.js';
import {
  instrumentHtml,
  localMessageId,
  sendAndDeliveryRecords,
  type LocalMail,
  type SesRecordJson,
} from './ses-simulator.js';

/**
 * What SES itself does around a send, locally (DESIGN §9, engagement loop-back), in front of `aws-ses-v2-local`:
 * the functions' SES v2 client (`AWS_ENDPOINT_URL_SESV2`) talks to this proxy. A `SendEmail` is checked as SES checks
 * it (the configuration set and the template must exist in the template), rendered from the deployed template, its
 * links and an open pixel rewritten as SES's open and click tracking would rewrite them (pointing at the local
 * tracking endpoint), handed to the emulator (whose web UI shows it), and then SES's Send and Delivery events are put on
 * the event bus of the configuration set's destination, from where the template's rule routes them to the engagement
 * queue and function. Everything else passes through to the emulator.
 */

/** The `detail-type` SES gives each record type on EventBridge. */
export const SES_DETAIL_TYPES: Record<string, string> = {
  Send: 'Email Sent',
  Delivery: 'Email Delivered',
  Open: 'Email Opened',
  Click: 'Email Clicked',
  Bounce: 'Email Bounced',
  Complaint: 'Email Complaint Received',
  Reject: 'Email Rejected',
  DeliveryDelay: 'Email Delivery Delayed',
  'Rendering Failure': 'Email Rendering Failed',
  RenderingFailure: 'Email Rendering Failed',
  Subscription: 'Email Subscribed',
};

/**
 * Publishes SES records as a configuration set's event destinations do: on each destination's bus, for the event
 * types it takes. A record sent with no configuration set (or one the stack does not define) goes nowhere, as on AWS.
 * Returns how many buses it was put on.
 */
export function sesEventPublisher(opts: {
  bus: LocalEventBus;
  configurationSets: Readonly<Record<string, LocalConfigurationSet>>;
  region: string;
  account: string;
}) {
  return async (record: SesRecordJson): Promise<number> => {
    const tags = z.record(z.string(), z.array(z.string())).catch({}).parse(record.mail.tags);
    const setName = tags['ses:configuration-set']?.[0];
    const set = setName === undefined ? undefined : opts.configurationSets[setName];
    if (!set) return 0;
    const type = record.eventType.replace(/\s+/g, '').toLowerCase();
    let published = 0;
    for (const destination of set.destinations) {
      if (!destination.eventTypes.includes(type)) continue;
      await opts.bus.put({
        source: 'aws.ses',
        detailType: SES_DETAIL_TYPES[record.eventType] ?? record.eventType,
        detail: record,
        bus: destination.eventBusName,
        resources: [`arn:aws:ses:${opts.region}:${opts.account}:configuration-set/${set.name}`],
      });
      published++;
    }
    return published;
  };
}

const SendEmailRequest = z.object({
  FromEmailAddress: z.string(),
  Destination: z.object({ ToAddresses: z.array(z.string()).default([]) }),
  ConfigurationSetName: z.string().optional(),
  EmailTags: z.array(z.object({ Name: z.string(), Value: z.string() })).default([]),
  Content: z.object({
    Template: z
      .object({
        TemplateName: z.string(),
        TemplateData: z.string().default('{}'),
        Headers: z.array(z.object({ Name: z.string(), Value: z.string() })).default([]),
      })
      .optional(),
    Simple: z
      .object({
        Subject: z.object({ Data: z.string() }),
        Body: z.object({
          Html: z.object({ Data: z.string() }).optional(),
          Text: z.object({ Data: z.string() }).optional(),
        }),
        Headers: z.array(z.object({ Name: z.string(), Value: z.string() })).default([]),
      })
      .optional(),
  }),
});

const TemplateData = z.record(z.string(), z.record(z.string(), z.string()));

/** A mail sent through the loop-back. */
export interface SentMail {
  messageId: string;
  to: string[];
  subject: string;
  template?: string;
  configurationSet?: string;
  tags: Record<string, string>;
  at: string;
}

export interface SesLoopback {
  endpoint: string;
  port: number;
  /** Mail sent through it since start (message id, recipients, template), newest last. */
  readonly sent: readonly SentMail[];
  close(): Promise<void>;
}

const read = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });

export async function startSesLoopback(opts: {
  port: number;
  /** The emulator behind the proxy. */
  upstream: string;
  configurationSets: Readonly<Record<string, LocalConfigurationSet>>;
  templates: readonly LocalEmailTemplate[];
  publish: (record: SesRecordJson) => Promise<number>;
  clock: Clock;
  /** The local API's base URL: tracking links point at its `/_local/t/…` routes. */
  trackingBaseUrl: string;
  trackingSecret: string;
  log: (line: string) => void;
  /** Told of each mail the emulator took. */
  onSent?: (mail: SentMail) => void;
}): Promise<SesLoopback> {
  const upstream = new URL(opts.upstream);
  const sent: SentMail[] = [];

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, path = req.url ?? '/') =>
    new Promise<void>((done) => {
      const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', () => done());
        },
      );
      out.on('error', (e) => {
        res.writeHead(502).end(e.message);
        done();
      });
      out.end(body);
    });

  const sesError = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ message }));
  };

  const upstreamSend = (body: string, auth: IncomingMessage['headers']): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const out = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: 'POST',
          path: '/v2/email/outbound-emails',
          headers: {
            ...auth,
            host: upstream.host,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
          },
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => resolve({ status: answer.statusCode ?? 502, text: Buffer.concat(chunks).toString() }));
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const sendEmail = async (incoming: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const parsed = SendEmailRequest.safeParse(JSON.parse(body.toString('utf8') || '{}'));
    if (!parsed.success) return sesError(res, 400, 'BadRequestException', parsed.error.issues[0]?.message ?? 'bad');
    const req = parsed.data;
    const setName = req.ConfigurationSetName;
    if (setName !== undefined && !opts.configurationSets[setName]) {
      return sesError(res, 404, 'NotFoundException', `Configuration set <${setName}> does not exist.`);
    }
    let subject: string;
    let html: string;
    let text: string;
    let headers: { Name: string; Value: string }[];
    if (req.Content.Template) {
      const template = opts.templates.find((t) => t.name === req.Content.Template?.TemplateName);
      if (!template) {
        return sesError(res, 404, 'NotFoundException', `Template ${req.Content.Template.TemplateName} does not exist.`);
      }
      const data = TemplateData.safeParse(JSON.parse(req.Content.Template.TemplateData));
      if (!data.success) return sesError(res, 400, 'BadRequestException', 'TemplateData is not valid for the template');
      subject = renderTemplate(template.subject, data.data);
      html = renderTemplate(template.html, data.data);
      text = renderTemplate(template.text, data.data);
      headers = req.Content.Template.Headers;
    } else if (req.Content.Simple) {
      subject = req.Content.Simple.Subject.Data;
      html = req.Content.Simple.Body.Html?.Data ?? '';
      text = req.Content.Simple.Body.Text?.Data ?? '';
      headers = req.Content.Simple.Headers;
    } else {
      return sesError(res, 400, 'BadRequestException', 'Content must be Simple or Template');
    }
    const messageId = localMessageId();
    const mail: LocalMail = {
      messageId,
      to: req.Destination.ToAddresses,
      from: req.FromEmailAddress,
      subject,
      tags: req.EmailTags,
      timestamp: opts.clock.now(),
      ...(setName !== undefined && { configurationSet: setName }),
    };
    // SES tracks opens and clicks of mail sent with a configuration set whose destinations take those events.
    const tracked =
      setName !== undefined &&
      (opts.configurationSets[setName]?.destinations.some((d) =>
        d.eventTypes.some((t) => t === 'open' || t === 'click'),
      ) ??
        false);
    const rendered = tracked
      ? instrumentHtml(html, { ...mail, trackingBaseUrl: opts.trackingBaseUrl, secret: opts.trackingSecret })
      : html;
    const forwarded = await upstreamSend(
      JSON.stringify({
        FromEmailAddress: req.FromEmailAddress,
        Destination: req.Destination,
        ...(setName !== undefined && { ConfigurationSetName: setName }),
        EmailTags: req.EmailTags,
        Content: {
          Simple: {
            Subject: { Data: subject },
            Body: { Html: { Data: rendered }, Text: { Data: text } },
            Headers: headers,
          },
        },
      }),
      { authorization: incoming.headers.authorization, 'x-amz-date': incoming.headers['x-amz-date'] },
    );
    if (forwarded.status >= 300) {
      res.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(forwarded.text);
      return;
    }
    const record: SentMail = {
      messageId,
      to: req.Destination.ToAddresses,
      subject,
      ...(req.Content.Template && { template: req.Content.Template.TemplateName }),
      ...(setName !== undefined && { configurationSet: setName }),
      tags: Object.fromEntries(req.EmailTags.map((t) => [t.Name, t.Value])),
      at: new Date(mail.timestamp).toISOString(),
    };
    sent.push(record);
    opts.onSent?.(record);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ MessageId: messageId }));
    // The mail is out: SES reports it after answering, and a hiccup here never makes the send fail.
    for (const record of sendAndDeliveryRecords(mail)) {
      await opts.publish(record).catch((e: unknown) => {
        opts.log(
          `ses loop-back: ${record.eventType} of ${messageId} not published: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      try {
        if (req.method === 'POST' && path === '/v2/email/outbound-emails') await sendEmail(req, body, res);
        else await forward(req, body, res);
      } catch (e) {
        if (!res.headersSent) sesError(res, 500, 'InternalFailure', e instanceof Error ? e.message : String(e));
      }
    })();
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port, '127.0.0.1', () => res());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    sent,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}

/** The EventBridge event SES puts on a bus for a record (what the engagement queue's messages carry). */
export function sesEventBridgeEvent(record: SesRecordJson, opts: { at: Date; region: string; account?: string }) {
  const tags = z.record(z.string(), z.array(z.string())).catch({}).parse(record.mail.tags);
  const account = opts.account ?? '000000000000';
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': SES_DETAIL_TYPES[record.eventType] ?? record.eventType,
    source: 'aws.ses',
    account,
    time: `${opts.at.toISOString().slice(0, 19)}Z`,
    region: opts.region,
    resources: [`arn:aws:ses:${opts.region}:${account}:configuration-set/${tags['ses:configuration-set']?.[0] ?? ''}`],
    detail: record,
  };
}
