import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RetryableError } from '../domain/nurture/errors.js';
import { LEAD_PROMOTED_DETAIL_TYPE, LEAD_PROMOTED_SOURCE, type LeadPromoted } from '../domain/nurture/lead-promoted.js';
import type { LeadEventsPublisher } from '../domain/nurture/ports.js';

/** Publishes `LeadPromoted` on an EventBridge bus (source `leadloop.nurture`), for sales tools to subscribe to. */
export class EventBridgeLeadEventsPublisher implements LeadEventsPublisher {
  constructor(
    private readonly eventBridge: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async leadPromoted(event: LeadPromoted): Promise<void> {
    const out = await this.eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: LEAD_PROMOTED_SOURCE,
            DetailType: LEAD_PROMOTED_DETAIL_TYPE,
            Detail: JSON.stringify(event),
            Resources: [],
          },
        ],
      }),
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.[0];
      throw new RetryableError(
        `EventBridge did not take LeadPromoted: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`,
      );
    }
  }
}
