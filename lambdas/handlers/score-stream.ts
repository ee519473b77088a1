import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import {
  PoisonEventError,
  followUpNurture,
  pendingStart,
  scorePendingEvents,
  type ScoringDeps,
  type ScoringResult,
} from '../domain/scoring-pipeline.js';
import { applyEvents } from '../domain/scoring/index.js';
import { scoringModel } from '../adapters/scoring-model.js';
import { clock, logger, metrics, nurtureStarter, repository } from '../adapters/aws.js';
import { insertedEvent } from './stream-records.js';

const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** Applies a lead's pending events, starts or stops its nurture run as decided, and records what changed. */
async function scoreLead(deps: ScoringDeps, leadId: string, eventIds: string[]): Promise<ScoringResult> {
  const result = await scorePendingEvents(deps, leadId, eventIds);
  const enrollment = result.applied.length > 0 ? result.enrollment : pendingStart(result.after);
  await followUpNurture(deps, { after: result.after, enrollment }, (error) =>
    logger.warn('could not stop a nurture run; it ends at its next re-evaluation', {
      leadId,
      error: error instanceof Error ? error.message : String(error),
    }),
  );
  if (result.applied.length === 0) return result;
  metrics.addMetric('EventsScored', MetricUnit.Count, result.applied.length);
  if (result.enrollment.start) metrics.addMetric('NurtureRunsStarted', MetricUnit.Count, 1);
  for (const t of result.transitions) {
    metrics.addMetric(`StageEntered_${t.to}`, MetricUnit.Count, 1);
    logger.info('stage changed', { leadId, from: t.from, to: t.to, rule: t.rule });
  }
  return result;
}

/**
 * Re-scores leads from new event items on the table's stream. All events of one lead in the batch are applied
 * together, once, for all of its records (one write per lead per batch); different leads are scored concurrently. Nurture runs the change calls for are started after the write. A failing record is reported alone
 * (partial batch response) and retried, then sent to the DLQ.
 */
export function createHandler(getDeps: () => ScoringDeps) {
  return middy<DynamoDBStreamEvent, unknown>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .handler(async (event, context) => {
      const deps = getDeps();
      const byLead = new Map<string, string[]>();
      for (const r of event.Records) {
        const ev = insertedEvent(r);
        if (ev) byLead.set(ev.leadId, [...(byLead.get(ev.leadId) ?? []), ev.eventId]);
      }
      // One scoring run per lead, shared by all of that lead's records; different leads are scored concurrently.
      const runs = new Map<string, Promise<ScoringResult>>();
      const scoreLeadOnce = (leadId: string): Promise<ScoringResult> => {
        let run = runs.get(leadId);
        if (!run) {
          run = scoreLead(deps, leadId, byLead.get(leadId) ?? []);
          runs.set(leadId, run);
        }
        return run;
      };
      const recordHandler = async (record: DynamoDBRecord) => {
        const ev = insertedEvent(record);
        if (!ev) return;
        try {
          const result = await scoreLeadOnce(ev.leadId);
          const reason = result.invalid.get(ev.eventId);
          if (reason !== undefined) throw new PoisonEventError(ev.leadId, ev.eventId, reason);
        } catch (error) {
          logger.error('stream record failed; it will be retried, then dead-lettered', {
            leadId: ev.leadId,
            eventId: ev.eventId,
            sequenceNumber: record.dynamodb?.SequenceNumber,
            error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          });
          throw error;
        }
      };
      return processPartialResponse(event, recordHandler, processor, { context, processInParallel: true });
    });
}

export const handler = createHandler(() => ({
  leads: repository(),
  clock,
  apply: (lead, events, now) => applyEvents(lead, events, scoringModel, now),
  nurture: { tracks: DEFAULT_NURTURE_PLAN.tracks, starter: nurtureStarter() },
}));
