import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import * as z from 'zod';
import { continueErasure, type ErasureDeps, type ErasureProgress } from '../domain/erasure.js';
import { logger, metrics, nurtureStarter, repository } from '../adapters/aws.js';

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** The keys of an erasure record, as they appear in the table's (keys-only) stream. */
const ErasureStreamKey = z.object({ pk: z.string().startsWith('LEAD#'), sk: z.literal('ERASURE') });

function erasedLeadId(record: DynamoDBRecord): string | undefined {
  if (record.eventName === 'REMOVE' || !record.dynamodb?.Keys) return undefined;
  const parsed = ErasureStreamKey.safeParse(unmarshall(record.dynamodb.Keys as Record<string, AttributeValue>));
  return parsed.success ? parsed.data.pk.slice('LEAD#'.length) : undefined;
}

/**
 * The erase worker: the table's stream brings it each new or updated erasure record (the mapping's filter). It stops
 * the lead's nurture run, deletes the lead's partition page by page while the invocation has time, and then either
 * finishes the erasure (the tombstone last) or records its progress, whose stream record brings it back. A failing
 * record is retried alone (partial batch response), then dead-lettered.
 */
export function createHandler(getDeps: () => ErasureDeps) {
  return middy<DynamoDBStreamEvent, unknown>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .handler(async (event, context) => {
      const deps = getDeps();
      const runs = new Map<string, Promise<ErasureProgress>>();
      const remainingMs = () => context.getRemainingTimeInMillis();
      return processPartialResponse(
        event,
        async (record: DynamoDBRecord) => {
          const leadId = erasedLeadId(record);
          if (!leadId) return;
          let run = runs.get(leadId);
          if (!run) {
            run = continueErasure(deps, leadId, remainingMs, { recordProgress: true });
            runs.set(leadId, run);
          }
          const progress = await run;
          metrics.addMetric(progress === 'done' ? 'ErasuresFinished' : 'ErasurePasses', MetricUnit.Count, 1);
          logger.info('erasure', { leadId, progress });
        },
        processor,
        { context },
      );
    });
}

export const handler = createHandler(() => ({ store: repository(), nurture: nurtureStarter(), reserveMs: 10_000 }));
