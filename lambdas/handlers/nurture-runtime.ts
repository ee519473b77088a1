import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { clock, config, logger, metrics, repository, tracer } from '../adapters/runtime.js';
import { EventBridgeLeadEventsPublisher, LocalLeadEventsPublisher } from '../adapters/eventbridge-publisher.js';
import { LocalTrackingSesMailer, SesMailer } from '../adapters/ses-mailer.js';
import { localTrackingFromEnv } from '../adapters/local-ses-simulator.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { markUnresponsive } from '../domain/lifecycle.js';
import { scoringModel } from '../adapters/scoring-model.js';
import type { NurtureDeps } from '../domain/nurture/nurture-tasks.js';

/**
 * The composition root of the nurture Lambdas (and of the unsubscribe route's secret): settings from the
 * environment, SDK clients created once per container, lazily (a module that only exports a factory costs nothing
 * until it runs).
 */

/** The development signing secret `npm start` uses; never accepted on AWS (see `NurtureEnv`). */
export const LOCAL_UNSUBSCRIBE_SECRET = 'leadloop-local-unsubscribe-secret';

const local = config.endpoints.dynamodb !== undefined;

const NurtureEnv = z.object({
  SENDER_EMAIL: z.string().min(3).default('leadloop@example.com'),
  SES_CONFIGURATION_SET: z.string().min(1).default('leadloop'),
  NURTURE_TEMPLATE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,24}$/)
    .default('leadloop'),
  NURTURE_MAILING_ADDRESS: z.string().min(1).default('Leadloop, 100 Example Street, Springfield, USA'),
  /** Base URL of the public site and API; locally the stack sets it. */
  LEADLOOP_PUBLIC_URL: z.url().default('http://127.0.0.1:3000'),
  NURTURE_SITE_URL: z.url().optional(),
  UNSUBSCRIBE_BASE_URL: z.url().optional(),
  UNSUBSCRIBE_SECRET: z.string().min(16).optional(),
  EVENT_BUS_NAME: z.string().min(1).optional(),
  LEADLOOP_SALES_WEBHOOK_URL: z.url().optional(),
});

/** The nurture settings of this process, validated once. */
export function nurtureSettings(env: NodeJS.ProcessEnv = process.env) {
  const e = NurtureEnv.parse(env);
  const secret = e.UNSUBSCRIBE_SECRET ?? (local ? LOCAL_UNSUBSCRIBE_SECRET : undefined);
  if (!secret) throw new Error('UNSUBSCRIBE_SECRET is not set');
  const publicUrl = e.LEADLOOP_PUBLIC_URL.replace(/\/+$/, '');
  return {
    mail: {
      from: e.SENDER_EMAIL,
      configurationSetName: e.SES_CONFIGURATION_SET,
      templatePrefix: e.NURTURE_TEMPLATE_PREFIX,
      mailingAddress: e.NURTURE_MAILING_ADDRESS,
      siteUrl: e.NURTURE_SITE_URL ?? publicUrl,
      unsubscribeBaseUrl: e.UNSUBSCRIBE_BASE_URL ?? `${publicUrl}/unsubscribe`,
      unsubscribeSecret: secret,
    },
    eventBusName: e.EVENT_BUS_NAME,
    salesWebhookUrl: e.LEADLOOP_SALES_WEBHOOK_URL,
  };
}

let deps: NurtureDeps | undefined;

/** The nurture dependencies of this Lambda container (or local process): created on first use, then reused. */
export function runtimeNurtureDeps(): NurtureDeps {
  if (deps) return deps;
  const settings = nurtureSettings();
  const credentials = local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {};
  const ses = tracer.captureAWSv3Client(
    new SESv2Client({ region: config.region, endpoint: config.endpoints.ses, ...credentials }),
  );
  const publisher =
    settings.eventBusName && !local
      ? new EventBridgeLeadEventsPublisher(
          tracer.captureAWSv3Client(
            new EventBridgeClient({ region: config.region, endpoint: config.endpoints.eventbridge }),
          ),
          settings.eventBusName,
        )
      : new LocalLeadEventsPublisher((line, data) => logger.info(line, data), settings.salesWebhookUrl);
  // Only the local stack sets LEADLOOP_LOCAL_TRACKING_URL: local mail then loops engagement back like SES does.
  const tracking = local ? localTrackingFromEnv() : undefined;
  const mailer = tracking
    ? new LocalTrackingSesMailer(ses, tracking, clock, (line, data) => logger.warn(line, data))
    : new SesMailer(ses);
  deps = {
    leads: repository,
    clock,
    mailer,
    publisher,
    plan: DEFAULT_NURTURE_PLAN,
    mail: settings.mail,
    markUnresponsive: (lead, now) => markUnresponsive(lead, scoringModel, now),
  };
  return deps;
}

/** A Step Functions task as Lambda runs it: an event in, the next state document out. */
export type NurtureTaskHandler<O> = (event: unknown, context: Context) => Promise<O>;

/**
 * One nurture task Lambda: Powertools logging and metrics, the input parsed against its schema at the edge (a bad
 * input is a `ZodError`, which no retrier matches), then one use case. `createHandler(deps)` builds the same
 * pipeline on other dependencies (the workflow tests run it on a controllable clock); `handler` is what Lambda and
 * `npm start` call.
 */
export function nurtureTask<S extends z.ZodType, O>(
  schema: S,
  run: (deps: NurtureDeps, input: z.output<S>) => Promise<O>,
  metric: (result: O) => string,
): { createHandler: (deps: () => NurtureDeps) => NurtureTaskHandler<O>; handler: NurtureTaskHandler<O> } {
  const createHandler = (getDeps: () => NurtureDeps): NurtureTaskHandler<O> => {
    const pipeline = middy()
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics))
      .handler(async (event: unknown) => {
        const result = await run(getDeps(), schema.parse(event));
        metrics.addMetric(metric(result), MetricUnit.Count, 1);
        return result;
      });
    return async (event, context) => pipeline(event, context);
  };
  return { createHandler, handler: createHandler(runtimeNurtureDeps) };
}
