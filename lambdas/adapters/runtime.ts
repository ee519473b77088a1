import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { loadConfig } from './config.js';
import { maskingJsonReplacer } from './log-masking.js';
import { scaledClock, systemClock, type Clock } from '../domain/clock.js';
import { DynamoLeadRepository } from './dynamo-lead-repository.js';

/**
 * Module-scope singletons shared by every handler (STYLE §7): created once per Lambda container (or once per local
 * process), with endpoints from configuration so the same adapters talk to AWS or to the local emulators.
 */
export const config = loadConfig();

export const clock: Clock =
  config.daySeconds !== undefined ? scaledClock(config.daySeconds, config.clockOrigin ?? new Date()) : systemClock;

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
export const tracer = new Tracer({ serviceName: 'leadloop', enabled: !config.endpoints.dynamodb });

const local = config.endpoints.dynamodb !== undefined;

export const dynamoDb = tracer.captureAWSv3Client(
  new DynamoDBClient({
    region: config.region,
    endpoint: config.endpoints.dynamodb,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  }),
);
export const documentClient = DynamoDBDocumentClient.from(dynamoDb, {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
});

export const repository = new DynamoLeadRepository(documentClient, config.tableName);
