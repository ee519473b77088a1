import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import type { SweepSummary } from '../domain/sweep.js';
import { config, tracer } from './runtime.js';

/** The summary event of a requalification run, as other systems subscribe to it. */
export const SUMMARY_EVENT = { source: 'leadloop.requalification', detailType: 'Requalification Summary' } as const;

/**
 * Adds a run's counts to `metrics` (flushed by the handler's middleware): totals as plain metrics, and one
 * `StageTransitions` metric per transition (dimension `Transition`, e.g. `lead->dormant`) and one `SweepActions`
 * metric per side effect (dimension `Action`).
 */
export function recordSweepMetrics(metrics: Metrics, summary: SweepSummary): void {
  const c = summary.counts;
  metrics.addMetric('LeadsReviewed', MetricUnit.Count, c.reviewed);
  metrics.addMetric('LeadsRequalified', MetricUnit.Count, c.changed);
  metrics.addMetric('LeadsSkipped', MetricUnit.Count, c.skipped);
  metrics.addMetric('ReviewItemsRead', MetricUnit.Count, c.itemsRead);
  metrics.addMetric('ShardsFailed', MetricUnit.Count, summary.failed);
  metrics.addMetric('SweepActionFailures', MetricUnit.Count, c.actionFailures);
  for (const [transition, n] of Object.entries(c.transitions)) {
    const single = metrics.singleMetric();
    single.addDimension('Transition', transition);
    single.addMetric('StageTransitions', MetricUnit.Count, n);
  }
  for (const [action, n] of Object.entries(c.actions)) {
    const single = metrics.singleMetric();
    single.addDimension('Action', action);
    single.addMetric('SweepActions', MetricUnit.Count, n);
  }
}

const Env = z.object({ EVENT_BUS_NAME: z.string().min(1).optional() });
const eventBusName = Env.parse(process.env).EVENT_BUS_NAME;

const eventBridge = eventBusName
  ? tracer.captureAWSv3Client(new EventBridgeClient({ region: config.region, endpoint: config.endpoints.eventbridge }))
  : undefined;

/**
 * Publishes the summary event on the configured bus (EVENT_BUS_NAME). Without a bus (the local runtime) there is no
 * event to publish, and the handler's log line is the record of the run; returns whether an event was published.
 */
export async function publishSweepSummary(summary: SweepSummary): Promise<boolean> {
  if (!eventBridge || !eventBusName) return false;
  const out = await eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: eventBusName,
          Source: SUMMARY_EVENT.source,
          DetailType: SUMMARY_EVENT.detailType,
          Time: new Date(summary.asOf),
          Detail: JSON.stringify(summary),
        },
      ],
    }),
  );
  if ((out.FailedEntryCount ?? 0) > 0) {
    throw new Error(
      `summary event rejected: ${out.Entries?.[0]?.ErrorCode ?? 'unknown'} ${out.Entries?.[0]?.ErrorMessage ?? ''}`,
    );
  }
  return true;
}
