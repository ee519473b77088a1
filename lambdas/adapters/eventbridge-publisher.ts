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

/**
 * The local stand-in (DESIGN §9): a log line per promotion and, if a sales webhook URL is set
 * (`LEADLOOP_SALES_WEBHOOK_URL`), a JSON POST of the same event envelope EventBridge would deliver.
 */
export class LocalLeadEventsPublisher implements LeadEventsPublisher {
  constructor(
    private readonly log: (line: string, data: Record<string, unknown>) => void,
    private readonly webhookUrl?: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async leadPromoted(event: LeadPromoted): Promise<void> {
    this.log(`LeadPromoted ${event.lead.email} (${event.lead.leadId}) from track ${event.nurture.track}`, {
      promotionId: event.promotionId,
      grade: event.score?.grade,
      total: event.score?.total,
    });
    if (!this.webhookUrl) return;
    const envelope = {
      version: '0',
      id: event.promotionId,
      'detail-type': LEAD_PROMOTED_DETAIL_TYPE,
      source: LEAD_PROMOTED_SOURCE,
      time: event.promotedAt,
      detail: event,
    };
    let res: Response;
    try {
      res = await this.fetchFn(this.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(envelope),
        signal: AbortSignal.timeout(5_000),
      });
    } catch (e) {
      throw new RetryableError(`sales webhook unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (res.status >= 500 || res.status === 429) throw new RetryableError(`sales webhook answered ${res.status}`);
    if (!res.ok) this.log(`sales webhook refused LeadPromoted with ${res.status}`, { promotionId: event.promotionId });
  }
}
