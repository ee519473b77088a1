import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LeadEvent } from '../domain/events.js';
import type { Lead, StageTransition } from '../domain/lead.js';
import { appliedEventItem, eventItem, eventLookupItems, leadItem, stageItem } from './dynamo-lead-repository.js';
import { keys } from './table-definition.js';

/**
 * Bulk loading for the demo seed and benchmarks: many BatchWriteItem calls of 25 items in flight at once, each retried
 * until DynamoDB has taken all its items (UnprocessedItems, with a short backoff). Items are the repository's own
 * shapes (the lead with its index keys, its identity, its events unapplied), so the stream and the scoring pipeline
 * treat them as they treat captured ones.
 */
type Item = Record<string, unknown>;

export interface BulkWriter {
  /**
   * Queues a lead with its identity item and its events; resolves once its items are queued (backpressure). With
   * `scored`, the events are marked applied at that instant and the stage history is written too: the lead as the
   * scoring pipeline would have left it (the pipeline then finds nothing pending).
   */
  addLead(
    lead: Lead,
    events: readonly LeadEvent[],
    scored?: { appliedAt: string; transitions: readonly StageTransition[] },
  ): Promise<void>;
  /** Waits for every queued item to be written; resolves to the items written. */
  flush(): Promise<number>;
}

export function bulkWriter(db: DynamoDBDocumentClient, table: string, concurrency = 16): BulkWriter {
  let pending: Item[] = [];
  let written = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  const writeBatch = async (items: Item[]): Promise<void> => {
    let request: Record<string, { PutRequest: { Item: Item } }[]> | undefined = {
      [table]: items.map((Item) => ({ PutRequest: { Item } })),
    };
    for (let attempt = 0; request && (request[table]?.length ?? 0) > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      const out = await db.send(new BatchWriteCommand({ RequestItems: request }));
      request = out.UnprocessedItems as typeof request;
    }
    written += items.length;
  };

  const launch = async (items: Item[]): Promise<void> => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const p: Promise<void> = writeBatch(items).then(
      () => void inFlight.delete(p),
      (e: unknown) => {
        inFlight.delete(p);
        failure ??= e;
      },
    );
    inFlight.add(p);
  };

  const drain = async (all: boolean): Promise<void> => {
    while (pending.length >= 25 || (all && pending.length > 0)) {
      const batch = pending.slice(0, 25);
      pending = pending.slice(25);
      await launch(batch);
    }
  };

  return {
    async addLead(lead, events, scored) {
      pending.push(leadItem(lead), {
        ...keys.identity(lead.email),
        entity: 'identity',
        leadId: lead.leadId,
        createdAt: lead.createdAt,
      });
      for (const e of events) {
        pending.push(scored ? appliedEventItem(e, scored.appliedAt) : eventItem(e), ...eventLookupItems(e));
      }
      for (const t of scored?.transitions ?? []) pending.push(stageItem(lead.leadId, t));
      await drain(false);
    },
    async flush() {
      await drain(true);
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      return written;
    },
  };
}
