import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../lambdas/domain/clock.js';
import {
  parseSesRecord,
  parseSesSqsBody,
  SesRecordError,
  type SesEventRecord,
} from '../../lambdas/domain/ses-events.js';
import {
  clickRecord,
  localTrackingSecret,
  openRecord,
  verifyTrackingParams,
  type SesRecordJson,
  type TrackingKind,
} from '../../lambdas/adapters/local-ses-simulator.js';
import type { LambdaHandler } from './handlers.js';
import type { LocalRequest, LocalResponse, LocalRouteHandler } from './http-server.js';
import { lambdaContext, LOCAL_ACCOUNT_ID } from './lambda-context.js';
import type { LocalService } from './stack.js';

/**
 * The engagement loop-back of the local runtime (DESIGN §9, issue 5). Every route feeds SES records to the
 * `ses-engagement` handler exactly as AWS does: each record is the `detail` of an EventBridge event from `aws.ses`,
 * and each event is the body of one SQS message of an SQSEvent.
 *
 * - `POST /_local/ses`: one SES record or an array, as SES publishes them (bare records, or whole EventBridge events).
 *   202 `{ received, failed: [{ index, reason }] }`; 400 `{ error: 'ValidationError', message, fields, records }`
 *   naming each malformed record's first offending field (`[index].path` for an array) and reason in `fields`, and
 *   every problem in `records: [{ index, field, reason, problems }]`; then nothing is processed.
 * - `GET /_local/t/open`: the open pixel of local mail; emits an Open record and answers a 1×1 GIF.
 * - `GET /_local/t/click`: a tracked link of local mail; emits a Click record and redirects (302) to the target.
 *   Both check the link's HMAC signature first (400 if bad): nobody can forge events about someone else's mail.
 */

/** The `detail-type` SES gives each record type on EventBridge. */
export const SES_DETAIL_TYPES: Record<SesEventRecord['eventType'], string> = {
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

/** At most this many records per POST (one Lambda invocation). */
export const MAX_RECORDS_PER_POST = 100;

export interface SesRoutesOptions {
  /** The `ses-engagement` handler. */
  handler: LambdaHandler;
  /** The stack's clock: times of the EventBridge events and of opens and clicks. */
  clock: Clock;
  region: string;
  /** HMAC key of the tracking links. @default localTrackingSecret() */
  secret?: string;
  /** @default 'leadloop-local-ses-engagement' */
  functionName?: string;
  log?: (line: string) => void;
}

export interface SesRoutes {
  postSes: LocalRouteHandler;
  trackOpen: LocalRouteHandler;
  trackClick: LocalRouteHandler;
}

const BatchResponse = z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) });

/** A transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const json = (status: number, value: unknown): LocalResponse => ({
  status,
  headers: { 'Content-Type': 'application/json; charset=utf-8' },
  body: JSON.stringify(value),
});

/**
 * The EventBridge event SES puts on the default bus for a record: `detail` is the record exactly as given (`raw`),
 * `record` (its parsed form) names the detail-type and the configuration set.
 */
export function sesEventBridgeEvent(record: SesEventRecord, raw: unknown, opts: { at: Date; region: string }) {
  const configurationSet = record.mail.tags['ses:configuration-set']?.[0] ?? 'leadloop';
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': SES_DETAIL_TYPES[record.eventType],
    source: 'aws.ses',
    account: LOCAL_ACCOUNT_ID,
    time: `${opts.at.toISOString().slice(0, 19)}Z`,
    region: opts.region,
    resources: [`arn:aws:ses:${opts.region}:${LOCAL_ACCOUNT_ID}:configuration-set/${configurationSet}`],
    detail: raw,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The route handlers, for mounting on the local HTTP server (or calling from tests). */
export function sesRoutes(opts: SesRoutesOptions): SesRoutes {
  const secret = opts.secret ?? localTrackingSecret();
  const log = opts.log ?? ((line: string) => console.log(line));
  const functionName = opts.functionName ?? 'leadloop-local-ses-engagement';

  const eventBridgeEvent = (record: SesEventRecord, raw: unknown) =>
    sesEventBridgeEvent(record, raw, { at: opts.clock.now(), region: opts.region });

  /** Runs the handler on one SQS message per body; answers the indexes it reported failed, with why. */
  const dispatch = async (bodies: string[]): Promise<{ index: number; reason: string }[]> => {
    const sentAt = String(Date.now());
    const ids = bodies.map(() => randomUUID());
    const event = {
      Records: bodies.map((body, i) => ({
        messageId: ids[i] ?? randomUUID(),
        receiptHandle: `local-${ids[i] ?? ''}`,
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: sentAt,
          SenderId: 'events.amazonaws.com',
          ApproximateFirstReceiveTimestamp: sentAt,
        },
        messageAttributes: {},
        md5OfBody: createHash('md5').update(body).digest('hex'),
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${opts.region}:${LOCAL_ACCOUNT_ID}:leadloop-ses-engagement`,
        awsRegion: opts.region,
      })),
    };
    const context = lambdaContext({ functionName, region: opts.region, timeoutMs: 10_000 });
    try {
      const parsed = BatchResponse.safeParse(await opts.handler(event, context));
      if (!parsed.success) throw new Error('the handler returned something other than an SQS batch response');
      const failed = new Set(parsed.data.batchItemFailures.map((f) => f.itemIdentifier));
      return ids.flatMap((id, index) =>
        failed.has(id)
          ? [
              {
                index,
                reason:
                  'the engagement handler reported it failed (see the log): SQS would retry it, then dead-letter it',
              },
            ]
          : [],
      );
    } catch (error) {
      const reason = `the engagement handler failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      log(`[ses-engagement] ${reason}`);
      return bodies.map((_, index) => ({ index, reason }));
    }
  };

  const postSes: LocalRouteHandler = async (req) => {
    let value: unknown;
    try {
      value = JSON.parse(req.body.toString('utf8'));
    } catch {
      return json(400, {
        error: 'ValidationError',
        message: 'body is not valid JSON',
        fields: { '(body)': 'is not valid JSON' },
      });
    }
    const items = Array.isArray(value) ? value : [value];
    if (items.length === 0 || items.length > MAX_RECORDS_PER_POST) {
      const reason = `must hold 1 to ${MAX_RECORDS_PER_POST} SES records`;
      return json(400, { error: 'ValidationError', message: reason, fields: { '(body)': reason } });
    }
    const fields: Record<string, string> = {};
    const records: { index: number; field: string; reason: string; problems: readonly string[] }[] = [];
    const bodies: string[] = [];
    items.forEach((item, index) => {
      const prefix = Array.isArray(value) ? `[${index}].` : '';
      try {
        // A whole EventBridge event (it has a `detail`) goes on as it is; a bare record is wrapped as SES would.
        if (isObject(item) && 'detail' in item) {
          const text = JSON.stringify(item);
          parseSesSqsBody(text);
          bodies.push(text);
        } else {
          bodies.push(JSON.stringify(eventBridgeEvent(parseSesRecord(item), item)));
        }
      } catch (error) {
        if (!(error instanceof SesRecordError)) throw error;
        fields[`${prefix}${error.field}`] = error.reason;
        records.push({ index, field: error.field, reason: error.reason, problems: error.problems });
      }
    });
    if (Object.keys(fields).length > 0) {
      return json(400, { error: 'ValidationError', message: 'malformed SES event record', fields, records });
    }
    return json(202, { received: bodies.length, failed: await dispatch(bodies) });
  };

  /** Builds the Open or Click record a tracking request stands for, and feeds it to the handler. */
  const track = async (req: LocalRequest, kind: TrackingKind): Promise<{ target?: string } | LocalResponse> => {
    const check = verifyTrackingParams(req.query, kind, secret);
    if (!check.valid) return json(400, { error: 'BadRequest', message: `invalid tracking link: ${check.reason}` });
    const userAgent = req.headers['user-agent'];
    const reader = {
      timestamp: opts.clock.now(),
      ...(typeof userAgent === 'string' ? { userAgent } : {}),
      ipAddress: req.sourceIp,
    };
    const record: SesRecordJson =
      kind === 'open'
        ? openRecord(check.mail, reader)
        : clickRecord(check.mail, { ...reader, link: check.target ?? '' });
    // The reader gets the pixel or the page even if recording fails: tracking must never break the mail.
    for (const { reason } of await dispatch([JSON.stringify(eventBridgeEvent(parseSesRecord(record), record))])) {
      log(`[ses-engagement] ${kind} of ${check.mail.messageId} not recorded: ${reason}`);
    }
    return kind === 'click' ? { target: check.target ?? '' } : {};
  };

  const trackOpen: LocalRouteHandler = async (req) => {
    const out = await track(req, 'open');
    if ('status' in out) return out;
    return {
      status: 200,
      headers: { 'Content-Type': 'image/gif', 'Cache-Control': 'no-store, max-age=0' },
      body: PIXEL,
    };
  };

  const trackClick: LocalRouteHandler = async (req) => {
    const out = await track(req, 'click');
    if ('status' in out) return out;
    return { status: 302, headers: { Location: out.target ?? '/', 'Cache-Control': 'no-store' } };
  };

  return { postSes, trackOpen, trackClick };
}

/** Mounts the routes; returns a function that removes them. */
export function registerSesRoutes(
  register: (method: string, path: string, handler: LocalRouteHandler) => () => void,
  opts: SesRoutesOptions,
): () => void {
  const routes = sesRoutes(opts);
  const removers = [
    register('POST', '/_local/ses', routes.postSes),
    register('GET', '/_local/t/open', routes.trackOpen),
    register('GET', '/_local/t/click', routes.trackClick),
  ];
  return () => removers.forEach((remove) => remove());
}

/** The loop-back as a service of the local stack: `startLocalStack({ services: [sesLoopbackService()] })`. */
export function sesLoopbackService(opts: { secret?: string } = {}): LocalService {
  return {
    name: 'SES engagement loop-back',
    // Tells the mailer, before any handler loads, to route local mail's links and opens through our tracking
    // endpoints and to report its Send and Delivery records here, as SES would.
    environment: ({ url }) => ({ LEADLOOP_LOCAL_TRACKING_URL: url }),
    async start(ctx) {
      const handler = await ctx.loadHandler('ses-engagement');
      const remove = registerSesRoutes(ctx.registerLocalRoute, {
        handler,
        clock: ctx.clock,
        region: ctx.region,
        log: ctx.log,
        ...(opts.secret !== undefined && { secret: opts.secret }),
      });
      return {
        stop: async () => remove(),
        describe: [
          `SES loop-back          POST ${ctx.url}/_local/ses (SES records as SES publishes them)`,
          `                       npm run leadloop -- inject bounce --email a@b.com --permanent`,
        ],
      };
    },
  };
}
