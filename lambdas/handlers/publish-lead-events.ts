import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import * as z from 'zod';
import { clock, lifecyclePublisher, logger, metrics, repository } from '../adapters/aws.js';
import { publishOutbox, type OutboxKey, type PublishDeps } from '../domain/publish-lead-events.js';

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** The keys of a new outbox item, as they appear in the table's stream. */
const OutboxStreamKey = z.object({ pk: z.string().startsWith('LEAD#'), sk: z.string().startsWith('OUTBOX#') });

function outboxKey(record: DynamoDBRecord): OutboxKey | undefined {
  if (record.eventName !== 'INSERT' || !record.dynamodb?.Keys) return undefined;
  const parsed = OutboxStreamKey.safeParse(unmarshall(record.dynamodb.Keys as Record<string, AttributeValue>));
  if (!parsed.success) return undefined;
  return { leadId: parsed.data.pk.slice('LEAD#'.length), eventId: parsed.data.sk.slice('OUTBOX#'.length) };
}

/** An outbox item that could not be published now; the stream retries its record (then the DLQ). */
class NotPublishedYet extends Error {
  override readonly name = 'NotPublishedYet';
}

/**
 * Publishes lifecycle events from the table's stream (new outbox items only, by the mapping's filter): each is claimed,
 * put on the bus and marked published, once. An item another publisher holds, or the bus refused, fails its record
 * alone (partial batch response) so the stream retries it.
 */
export function createHandler(getDeps: () => PublishDeps) {
  return middy<DynamoDBStreamEvent, unknown>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .handler(async (event, context) => {
      const keys = event.Records.map(outboxKey).filter((k): k is OutboxKey => k !== undefined);
      const result = await publishOutbox(getDeps(), keys);
      metrics.addMetric('LifecycleEventsPublished', MetricUnit.Count, result.published.length);
      const retry = new Set(result.retry);
      return processPartialResponse(
        event,
        async (record: DynamoDBRecord) => {
          const key = outboxKey(record);
          if (key && retry.has(key.eventId)) {
            logger.warn('lifecycle event not published yet; the stream retries it', { ...key });
            throw new NotPublishedYet(key.eventId);
          }
        },
        processor,
        { context },
      );
    });
}

export const handler = createHandler(() => ({ outbox: repository(), publisher: lifecyclePublisher(), clock }));
