import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { Tracer } from '@aws-lambda-powertools/tracer';
import * as z from 'zod';
import { scaledClock, systemClock, type Clock } from '../domain/clock.js';
import type { NurtureMailSettings } from '../domain/nurture/nurture-tasks.js';
import { DynamoLeadRepository } from './dynamo-lead-repository.js';
import { EventBridgeLifecyclePublisher } from './eventbridge-publisher.js';
import { s3LabStore } from './s3-lab-store.js';
import { DynamoSendingStore } from './dynamo-sending-store.js';
import { SesMailer } from './ses-mailer.js';
import { NurtureStateMachines, SfnNurtureStarter } from './sfn-nurture-starter.js';
import { maskingJsonReplacer } from './log-masking.js';
import { SecretsManagerSigningKeys } from './signing-keys.js';
import { SecretsManagerAddressHasher } from './address-hash.js';

/**
 * The composition root of every Lambda (STYLE: one per side). SDK clients, logger, metrics and tracer are made once per
 * container, on first use, and configured the way any AWS SDK v3 program is: region, credentials and endpoints come
 * from the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL_<SERVICE>`, …), so the same code talks to AWS or to
 * the local emulators without knowing which. The only Leadloop settings read here are the ones the stack puts in a
 * function's configuration (`TABLE_NAME`, `ALLOWED_ORIGINS`, …) and the scaled clock of the local runtime.
 *
 * A setting a function needs but was not given fails loudly when first used (`MissingSettingError`), naming the
 * variable: the way a deployment that forgot to wire something shows it.
 */

/** A function was not given a setting it needs (the stack did not wire it). */
export class MissingSettingError extends Error {
  override readonly name = 'MissingSettingError';
  constructor(readonly variable: string) {
    super(`${variable} is not set`);
  }
}

/** The value of a setting the function cannot work without. */
export function requiredSetting(variable: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[variable];
  if (value === undefined || value === '') throw new MissingSettingError(variable);
  return value;
}

const ClockEnv = z.object({
  /** Real seconds per simulated day (the local runtime's scaled clock). */
  LEADLOOP_DAY_SECONDS: z.coerce.number().positive().optional(),
  /** Real instant at which simulated time equals real time. */
  LEADLOOP_CLOCK_ORIGIN: z.iso.datetime().optional(),
});

/** The clock of this process: the system clock, or the scaled simulated clock when `LEADLOOP_DAY_SECONDS` is set. */
export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const e = ClockEnv.parse(env);
  if (e.LEADLOOP_DAY_SECONDS === undefined) return systemClock;
  return scaledClock(e.LEADLOOP_DAY_SECONDS, e.LEADLOOP_CLOCK_ORIGIN ? new Date(e.LEADLOOP_CLOCK_ORIGIN) : new Date());
}

/** `ALLOWED_ORIGINS`: comma-separated origins allowed for CORS and as form `redirect` targets. */
export function allowedOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
}

/** Memoizes a factory: the value is made on first use, then shared for the life of the container. */
export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

export const clock: Clock = clockFromEnv();

/** Emails and tokens are masked in every log entry (log-masking.ts), whatever a handler passes to the logger. */
export const logger = new Logger({ serviceName: 'leadloop', jsonReplacerFn: maskingJsonReplacer });
export const metrics = new Metrics({
  namespace: 'Leadloop',
  serviceName: 'leadloop',
  // Routes that record no metric on a call (reads, duplicates) are normal here: the "no metrics to publish" notice
  // goes to debug instead of a warning on every such call.
  logger: {
    debug: (...a: unknown[]) => logger.debug(String(a[0] ?? '')),
    info: (...a: unknown[]) => logger.info(String(a[0] ?? '')),
    warn: (...a: unknown[]) => logger.debug(String(a[0] ?? '')),
    error: (...a: unknown[]) => logger.error(String(a[0] ?? '')),
  },
});
/** Traces only inside Lambda (Powertools turns itself off elsewhere). */
export const tracer = new Tracer({ serviceName: 'leadloop' });

export const dynamoDb = once(() => tracer.captureAWSv3Client(new DynamoDBClient({})));
export const documentClient = once(() =>
  DynamoDBDocumentClient.from(dynamoDb(), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  }),
);
/**
 * The suppression key (address-hash.ts), read from the Secrets Manager secret `SUPPRESSION_KEY_SECRET_ARN` names, on
 * first use: only the functions that suppress or check addresses (forms, events, erasure) are given it.
 */
export const addressHasher = once(
  () => new SecretsManagerAddressHasher(secrets(), requiredSetting('SUPPRESSION_KEY_SECRET_ARN')),
);

/** The lead table (`TABLE_NAME`). */
export const repository = once(
  () =>
    new DynamoLeadRepository(documentClient(), requiredSetting('TABLE_NAME'), {
      hash: (email) => addressHasher().hash(email),
    }),
);

/**
 * SES v2 with no automatic retries: a `SendEmail` that timed out may have been accepted, and sending it again would
 * mail the recipient twice. Failures surface to the caller, which decides (the touch's claim makes that safe).
 */
export const ses = once(() => tracer.captureAWSv3Client(new SESv2Client({ maxAttempts: 1 })));
export const eventBridge = once(() => tracer.captureAWSv3Client(new EventBridgeClient({})));
export const stepFunctions = once(() => tracer.captureAWSv3Client(new SFNClient({})));
export const s3 = once(() => tracer.captureAWSv3Client(new S3Client({})));
export const secrets = once(
  () => new SecretsProvider({ awsSdkV3Client: tracer.captureAWSv3Client(new SecretsManagerClient({})) }),
);

/** The unsubscribe-link signing keys, read from the Secrets Manager secret `UNSUBSCRIBE_KEYS_SECRET_ARN` names. */
export const unsubscribeKeys = once(
  () => new SecretsManagerSigningKeys(secrets(), requiredSetting('UNSUBSCRIBE_KEYS_SECRET_ARN')),
);

const MailEnv = z.object({
  SENDER_EMAIL: z.string().min(3),
  SES_CONFIGURATION_SET: z.string().min(1),
  NURTURE_TEMPLATE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,24}$/),
  NURTURE_MAILING_ADDRESS: z.string().min(1).default('Leadloop, 100 Example Street, Springfield, USA'),
  NURTURE_SITE_URL: z.url(),
  UNSUBSCRIBE_BASE_URL: z.url(),
});

/** How nurture mail is addressed (the touch function's configuration, set by lib/nurture-workflows.ts). */
export const nurtureMailSettings = once((): NurtureMailSettings => {
  const parsed = MailEnv.safeParse(process.env);
  if (!parsed.success) {
    const variable = String(parsed.error.issues[0]?.path[0] ?? 'SENDER_EMAIL');
    throw new MissingSettingError(variable);
  }
  const e = parsed.data;
  return {
    from: e.SENDER_EMAIL,
    configurationSetName: e.SES_CONFIGURATION_SET,
    templatePrefix: e.NURTURE_TEMPLATE_PREFIX,
    mailingAddress: e.NURTURE_MAILING_ADDRESS,
    siteUrl: e.NURTURE_SITE_URL,
    unsubscribeBaseUrl: e.UNSUBSCRIBE_BASE_URL,
  };
});

export const mailer = once(() => new SesMailer(ses()));

/**
 * `CONFIRMED_OPT_IN`: whether consent given on forms waits for the person's confirmation (the CDK context
 * `confirmedOptIn`; the stack sets it on the form function).
 */
export function confirmedOptInFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return requiredSetting('CONFIRMED_OPT_IN', env) === 'true';
}

/** How the confirmation mail is addressed: the nurture mail settings plus the public `/confirm` route. */
export const confirmationMailSettings = once(() => ({
  ...nurtureMailSettings(),
  confirmBaseUrl: z.url().parse(requiredSetting('CONFIRM_BASE_URL')),
}));

/** Lifecycle events (`LeadStageChanged`, `LeadPromoted`) go to the bus `EVENT_BUS_NAME`. */
export const lifecyclePublisher = once(
  () => new EventBridgeLifecyclePublisher(eventBridge(), requiredSetting('EVENT_BUS_NAME')),
);

/** Starts and stops nurture runs: the state machines of `NURTURE_STATE_MACHINES` (track → ARN). */
export const nurtureStarter = once(
  () =>
    new SfnNurtureStarter(
      stepFunctions(),
      NurtureStateMachines.parse(JSON.parse(requiredSetting('NURTURE_STATE_MACHINES'))),
    ),
);

/** The model lab's bucket (`MODEL_LAB_BUCKET`): exports, shuffle files, partial tallies and reports. */
export const labStore = once(() => s3LabStore(s3(), requiredSetting('MODEL_LAB_BUCKET')));
/** Touch claims, the cap ledger and the reputation brake's counters, on the lead table (`TABLE_NAME`). */
export const sendingStore = once(() => new DynamoSendingStore(documentClient(), requiredSetting('TABLE_NAME')));
