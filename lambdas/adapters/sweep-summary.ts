import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SweepSummary } from '../domain/sweep.js';

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

/** Publishes a run's summary event on the bus (`EVENT_BUS_NAME`), for other systems to subscribe to. */
export class SweepSummaryPublisher {
  constructor(
    private readonly eventBridge: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(summary: SweepSummary): Promise<void> {
    const out = await this.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
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
  }
}
