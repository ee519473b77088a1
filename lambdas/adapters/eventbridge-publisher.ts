import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LEAD_EVENTS_SOURCE, type OutboxRecord } from '../domain/lead-events.js';
import type { LifecyclePublisher } from '../domain/publish-lead-events.js';

/**
 * Puts Leadloop's lifecycle events on an EventBridge bus: source `leadloop`, detail-type `LeadStageChanged` or
 * `LeadPromoted`, the detail as documented in docs/lead-events.md. Teams wire Slack, a CRM or a warehouse to them with
 * ordinary rules; the stack's own rule sends `LeadPromoted` to the sales webhook.
 */
export class EventBridgeLifecyclePublisher implements LifecyclePublisher {
  constructor(
    private readonly eventBridge: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publish(records: readonly OutboxRecord[]): Promise<{ failed: string[] }> {
    if (records.length === 0) return { failed: [] };
    const out = await this.eventBridge.send(
      new PutEventsCommand({
        Entries: records.map((r) => ({
          EventBusName: this.eventBusName,
          Source: LEAD_EVENTS_SOURCE,
          DetailType: r.type,
          Detail: JSON.stringify(r.detail),
          Resources: [],
        })),
      }),
    );
    // Entries come back in the order they were put; a failed one has an ErrorCode.
    const failed = (out.Entries ?? []).flatMap((e, i) => (e.ErrorCode ? [records[i]?.eventId ?? ''] : []));
    return { failed };
  }
}
