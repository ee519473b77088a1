import { BatchProcessor, EventType as BatchEventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { recordEngagement, type EngagementDeps, type RecordedEngagement } from '../domain/engagement.js';
import type { EventType } from '../domain/events.js';
import { parseSesSqsBody, SesRecordError, type SesEventRecord } from '../domain/ses-events.js';
import { clock, logger, metrics, repository, sendingStore } from '../adapters/aws.js';
import { DEFAULT_NURTURE_PLAN } from '../domain/nurture/default-tracks.js';
import { countFeedback, type SendingStore } from '../domain/nurture/sending.js';

const processor = new BatchProcessor(BatchEventType.SQS);

/**
 * Email engagement from SES (EventBridge → SQS → here): each message's SES record becomes lead events, once per
 * deterministic id. A malformed record is reported failed on its own (partial batch response) and, being the same
 * on every receive, reaches the DLQ after maxReceiveCount with the reason in the log; a DynamoDB error is thrown, so
 * the record is retried. Records run in order: an open or click sees the delivery and clicks recorded before it.
 */
export interface EngagementHandlerDeps extends EngagementDeps {
  /** The reputation brake's counters (hard bounces and complaints pause marketing sending over the limits). */
  sending?: Pick<SendingStore, 'countFeedback' | 'days' | 'getState' | 'pause'>;
}

export function createHandler(getDeps: () => EngagementHandlerDeps) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .handler((event, context) => {
      const deps = getDeps();
      return processPartialResponse(event, (message: SQSRecord) => recordMessage(deps, message), processor, {
        context,
        processInParallel: false,
        throwOnFullBatchFailure: false,
      });
    });
}

export const handler = createHandler(() => ({ leads: repository(), clock, sending: sendingStore() }));

async function recordMessage(deps: EngagementHandlerDeps, message: SQSRecord): Promise<void> {
  const record = parseOrReport(message);
  const result = await recordEngagement(deps, record);
  if (deps.sending) await brake(deps.sending, [...result.recorded, ...result.duplicates], deps.clock.now());
  for (const { leadId, taggedLeadId } of result.tagMismatches) {
    logger.warn('leadId tag does not match the recipient; attributed by address', {
      leadId,
      taggedLeadId,
      messageId: record.mail.messageId,
    });
  }
  countMetrics(result);
}

/** The SES record of one message; a malformed one is logged (field and reason, no addresses) and rethrown. */
function parseOrReport(message: SQSRecord): SesEventRecord {
  try {
    return parseSesSqsBody(message.body);
  } catch (error) {
    if (!(error instanceof SesRecordError)) throw error;
    metrics.addMetric('SesRecordsMalformed', MetricUnit.Count, 1);
    logger.error('malformed SES record: not retryable, goes to the DLQ after maxReceiveCount', {
      sqsMessageId: message.messageId,
      receiveCount: message.attributes.ApproximateReceiveCount,
      field: error.field,
      reason: error.reason,
      problems: error.problems,
    });
    throw error;
  }
}

const METRIC_BY_TYPE: Partial<Record<EventType, string>> = {
  email_bounced: 'EmailBounces',
  email_complained: 'EmailComplaints',
  email_opened: 'EmailOpens',
  email_clicked: 'EmailClicks',
  email_unsubscribed: 'EmailUnsubscribes',
};

function countMetrics(result: RecordedEngagement): void {
  for (const event of result.recorded) {
    const name = METRIC_BY_TYPE[event.type];
    if (name) metrics.addMetric(name, MetricUnit.Count, 1);
    if (event.type === 'email_bounced' && event.properties.bounceType === 'permanent') {
      metrics.addMetric('EmailHardBounces', MetricUnit.Count, 1);
    }
    if (event.properties.machine === true) metrics.addMetric('EmailMachineEngagement', MetricUnit.Count, 1);
  }
  metrics.addMetric('SesEventsRecorded', MetricUnit.Count, result.recorded.length);
  metrics.addMetric('SesEventsDuplicate', MetricUnit.Count, result.duplicates.length);
  if (result.unattributed > 0) metrics.addMetric('SesRecipientsUnattributed', MetricUnit.Count, result.unattributed);
}

/** Counts hard bounces and complaints for the reputation brake (once per event: duplicates count nothing). */
async function brake(
  store: NonNullable<EngagementHandlerDeps['sending']>,
  events: RecordedEngagement['recorded'],
  now: Date,
): Promise<void> {
  const policy = DEFAULT_NURTURE_PLAN.policy.reputation;
  const { paused, rates } = await countFeedback(store, policy, events, now);
  if (rates) {
    metrics.addMetric('ReputationBounceRate', MetricUnit.Percent, rates.bounceRate * 100);
    metrics.addMetric('ReputationComplaintRate', MetricUnit.Percent, rates.complaintRate * 100);
  }
  if (paused) {
    metrics.addMetric('SendingPaused', MetricUnit.Count, 1);
    logger.warn('marketing sending paused by the reputation brake', { reason: paused });
  }
}
