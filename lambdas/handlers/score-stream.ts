import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { scorePendingEvents } from '../domain/scoring-pipeline.js';
import { applyEvents } from '../domain/scoring/index.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { clock, logger, metrics, repository } from '../adapters/runtime.js';
import { insertedEvent } from './stream-records.js';

const processor = new BatchProcessor(EventType.DynamoDBStreams);
const deps = { leads: repository, clock, apply: (lead, events, now) => applyEvents(lead, events, scoringModel, now) } satisfies Parameters<typeof scorePendingEvents>[0];

/**
 * Re-scores leads from new event items on the table's stream. All events of one lead in the batch are applied
 * together by the first of its records (one write per lead per batch); the lead's later records then find nothing
 * pending. A failing record is reported alone (partial batch response) and retried, then sent to the DLQ.
 */
export const handler = middy<DynamoDBStreamEvent, unknown>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .handler(async (event, context) => {
    const byLead = new Map<string, string[]>();
    for (const r of event.Records) {
      const ev = insertedEvent(r);
      if (ev) byLead.set(ev.leadId, [...(byLead.get(ev.leadId) ?? []), ev.eventId]);
    }
    const recordHandler = async (record: DynamoDBRecord) => {
      const ev = insertedEvent(record);
      if (!ev) return;
      const result = await scorePendingEvents(deps, ev.leadId, byLead.get(ev.leadId) ?? [ev.eventId]);
      if (result.applied.length === 0) return;
      metrics.addMetric('EventsScored', MetricUnit.Count, result.applied.length);
      for (const t of result.transitions) {
        metrics.addMetric(`StageEntered_${t.to}`, MetricUnit.Count, 1);
        logger.info('stage changed', { leadId: ev.leadId, from: t.from, to: t.to, rule: t.rule });
      }
    };
    return processPartialResponse(event, recordHandler, processor, { context, processInParallel: false });
  });
