import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ConflictError } from '../domain/errors.js';
import { Lead, StageTransition } from '../domain/lead.js';
import { LeadEvent } from '../domain/events.js';
import {
  LEAD_PROMOTED,
  LEAD_STAGE_CHANGED,
  LeadPromoted,
  LeadStageChanged,
  leadEventsFor,
  type OutboxRecord,
} from '../domain/lead-events.js';
import type { ClaimResult, OutboxKey } from '../domain/publish-lead-events.js';
import { lookupsOf, type EventLookup } from '../domain/event-lookups.js';
import type { LeadRepository } from '../domain/ports.js';
import type { DuePage, ReviewIndex } from '../domain/sweep.js';
import { TABLE, keys, reviewShardOf } from './table-definition.js';
import { assertItemFits } from './item-size.js';

type Item = Record<string, unknown>;

/** The lead's item: the Lead itself plus its keys and index keys (the review index is sparse: only leads with reviewAt). */
export function leadItem(lead: Lead): Item {
  return {
    ...lead,
    ...keys.lead(lead.leadId),
    entity: 'lead',
    [TABLE.byStageIndex.partitionKey]: keys.stageIndex(lead.stage),
    [TABLE.byStageIndex.sortKey]: `${lead.stageChangedAt}#${lead.leadId}`,
    ...(lead.reviewAt
      ? {
          [TABLE.reviewIndex.partitionKey]: keys.reviewShard(reviewShardOf(lead.leadId)),
          [TABLE.reviewIndex.sortKey]: `${lead.reviewAt}#${lead.leadId}`,
        }
      : {}),
  };
}

/**
 * An event item as stored: the event plus its keys (shared with bulk writers: the demo seed, benchmarks), and the
 * pending index's keys, which scoring removes when it applies the event.
 */
export function eventItem(e: LeadEvent): Item {
  return {
    ...e,
    ...keys.event(e.leadId, e.eventId),
    entity: 'event',
    [TABLE.pendingIndex.partitionKey]: keys.pendingShard(reviewShardOf(e.leadId)),
    [TABLE.pendingIndex.sortKey]: `${e.leadId}#${e.receivedAt}#${e.eventId}`,
  };
}

/** An event item already applied (`appliedAt`), as bulk writers store scored histories: not in the pending index. */
export function appliedEventItem(e: LeadEvent, appliedAt: string): Item {
  return { ...e, ...keys.event(e.leadId, e.eventId), entity: 'event', appliedAt };
}

function lookupKey(e: LeadEvent, lookup: EventLookup): { pk: string; sk: string } {
  switch (lookup.kind) {
    case 'suppress':
      return keys.eventKind(e.leadId, 'suppress', e.eventId);
    case 'sent':
      return keys.eventKind(e.leadId, 'sent', `${e.occurredAt}#${e.eventId}`);
    case 'message':
      return keys.messageEvent(e.leadId, lookup.messageId, e.eventId);
  }
}

/** The lookup copies an event is filed under (domain/event-lookups.ts), written in the event's own transaction. */
export function eventLookupItems(e: LeadEvent): Item[] {
  return lookupsOf(e).map((lookup) => ({ ...e, ...lookupKey(e, lookup), entity: 'eventLookup' }));
}

/** A stage-history item as stored (shared with bulk writers). */
export function stageItem(leadId: string, t: StageTransition): Item {
  return { ...t, leadId, ...keys.stage(leadId, t.at, t.to), entity: 'stage' };
}

/** An outbox item as stored: validated, never cast. */
const OutboxItem = z
  .discriminatedUnion('type', [
    z.object({ eventId: z.string(), type: z.literal(LEAD_STAGE_CHANGED), detail: LeadStageChanged }),
    z.object({ eventId: z.string(), type: z.literal(LEAD_PROMOTED), detail: LeadPromoted }),
  ])
  .transform((r): OutboxRecord => r);

/** Outbox items outlive their publication by this long (the publication log), then DynamoDB's TTL removes them. */
const OUTBOX_RETENTION_SECONDS = 90 * 86_400;

function outboxItem(leadId: string, record: OutboxRecord, createdAt: string): Item {
  return {
    ...keys.outbox(leadId, record.eventId),
    entity: 'outbox',
    leadId,
    eventId: record.eventId,
    type: record.type,
    detail: record.detail,
    createdAt,
    [TABLE.ttlAttribute]: Math.floor(Date.parse(createdAt) / 1000) + OUTBOX_RETENTION_SECONDS,
  };
}

/** The exclusive start key of a review-index query resuming after `position` (`<reviewAt>#<leadId>`). */
function reviewStartKey(shardKey: string, position: string): Item {
  const leadId = position.slice(position.lastIndexOf('#') + 1);
  return {
    ...keys.lead(leadId),
    [TABLE.reviewIndex.partitionKey]: shardKey,
    [TABLE.reviewIndex.sortKey]: position,
  };
}

/** SHA-256 of a normalized address: what survives an erasure, so the person is never re-added or mailed. */
export const emailHash = (email: string): string => createHash('sha256').update(email).digest('hex');

const isConditionFailure = (e: unknown): boolean =>
  e instanceof TransactionCanceledException &&
  (e.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');

/** Another transaction touched the same item at the same moment: nothing was written, trying again is safe. */
const isTransactionConflict = (e: unknown): boolean =>
  e instanceof TransactionCanceledException &&
  (e.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict');

/** Runs a transaction, again after a short jittered pause while it meets a TransactionConflict (up to `attempts`). */
async function transact<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (!isTransactionConflict(e) || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
    }
  }
}

/** DynamoDB single-table implementation of LeadRepository (DESIGN §3). */
export class DynamoLeadRepository implements LeadRepository, ReviewIndex {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async findLeadIdByEmail(email: string): Promise<string | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.identity(email), ConsistentRead: true }),
    );
    return typeof Item?.leadId === 'string' ? Item.leadId : undefined;
  }

  async getLead(leadId: string): Promise<Lead | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.lead(leadId), ConsistentRead: true }),
    );
    return Item ? Lead.parse(Item) : undefined;
  }

  async createLead(lead: Lead): Promise<{ leadId: string; created: boolean }> {
    try {
      await transact(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    ...keys.identity(lead.email),
                    entity: 'identity',
                    leadId: lead.leadId,
                    createdAt: lead.createdAt,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: leadItem(lead),
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        ),
      );
      return { leadId: lead.leadId, created: true };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const existing = await this.findLeadIdByEmail(lead.email);
      if (!existing) throw e;
      return { leadId: existing, created: false };
    }
  }

  async appendEvent(event: LeadEvent): Promise<'recorded' | 'duplicate'> {
    const lookups = eventLookupItems(event);
    if (lookups.length > 0) return this.appendWithLookups(event, lookups);
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: eventItem(event),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'recorded';
    } catch (e) {
      if (e instanceof Error && e.name === 'ConditionalCheckFailedException') return 'duplicate';
      throw e;
    }
  }

  /** The event and its lookup copies in one transaction: a lookup never exists without its event, nor the reverse. */
  private async appendWithLookups(event: LeadEvent, lookups: Item[]): Promise<'recorded' | 'duplicate'> {
    try {
      await transact(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: eventItem(event),
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              ...lookups.map((Item) => ({ Put: { TableName: this.tableName, Item } })),
            ],
          }),
        ),
      );
      return 'recorded';
    } catch (e) {
      if (isConditionFailure(e)) return 'duplicate';
      throw e;
    }
  }

  async getEvent(leadId: string, eventId: string): Promise<LeadEvent | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.event(leadId, eventId), ConsistentRead: true }),
    );
    return Item ? LeadEvent.parse(Item) : undefined;
  }

  async suppressingEvents(leadId: string): Promise<LeadEvent[]> {
    return (await this.queryPrefix(leadId, keys.eventKind(leadId, 'suppress', '').sk)).map((i) => LeadEvent.parse(i));
  }

  async nurtureSendsSince(leadId: string, since: Date): Promise<LeadEvent[]> {
    const from = keys.eventKind(leadId, 'sent', since.toISOString()).sk;
    const to = keys.eventKind(leadId, 'sent', '~').sk;
    return (await this.queryRange(leadId, from, to)).map((i) => LeadEvent.parse(i));
  }

  async messageEvents(leadId: string, messageId: string): Promise<LeadEvent[]> {
    return (await this.queryPrefix(leadId, keys.messageEvent(leadId, messageId, '').sk)).map((i) => LeadEvent.parse(i));
  }

  /** From the pending index (eventually consistent; loadPending re-reads each event consistently). */
  async pendingEventIds(leadId: string): Promise<string[]> {
    const ids: string[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLE.pendingIndex.name,
          KeyConditionExpression: '#pk = :shard AND begins_with(#sk, :lead)',
          ExpressionAttributeNames: { '#pk': TABLE.pendingIndex.partitionKey, '#sk': TABLE.pendingIndex.sortKey },
          ExpressionAttributeValues: { ':shard': keys.pendingShard(reviewShardOf(leadId)), ':lead': `${leadId}#` },
          ExclusiveStartKey,
        }),
      );
      for (const item of out.Items ?? []) if (typeof item.sk === 'string') ids.push(item.sk.slice('EVENT#'.length));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return ids;
  }

  /**
   * Leads of one pending-index shard with events not applied yet that were received before `receivedBefore` (so not
   * merely in flight on the stream): what `leadloop redrive` and the sweep re-score. Cost grows with unapplied events.
   */
  async leadsWithPendingEvents(shard: number, receivedBefore: Date): Promise<Map<string, string[]>> {
    const byLead = new Map<string, string[]>();
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLE.pendingIndex.name,
          KeyConditionExpression: '#pk = :shard',
          ExpressionAttributeNames: { '#pk': TABLE.pendingIndex.partitionKey },
          ExpressionAttributeValues: { ':shard': keys.pendingShard(shard) },
          ExclusiveStartKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const position = item[TABLE.pendingIndex.sortKey];
        if (typeof position !== 'string' || typeof item.sk !== 'string') continue;
        const [leadId, receivedAt] = position.split('#');
        if (!leadId || !receivedAt || receivedAt >= receivedBefore.toISOString()) continue;
        byLead.set(leadId, [...(byLead.get(leadId) ?? []), item.sk.slice('EVENT#'.length)]);
      }
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return byLead;
  }

  /** Every shard's leads with unapplied events received before `receivedBefore` (for `leadloop redrive`). */
  async allLeadsWithPendingEvents(receivedBefore: Date): Promise<Map<string, string[]>> {
    const all = new Map<string, string[]>();
    for (let shard = 0; shard < TABLE.reviewShards; shard++) {
      for (const [leadId, ids] of await this.leadsWithPendingEvents(shard, receivedBefore)) all.set(leadId, ids);
    }
    return all;
  }

  async listEvents(leadId: string): Promise<LeadEvent[]> {
    return (await this.queryPrefix(leadId, 'EVENT#')).map((i) => LeadEvent.parse(i));
  }

  async stageHistory(leadId: string): Promise<StageTransition[]> {
    return (await this.queryPrefix(leadId, 'STAGE#')).map((i) => StageTransition.parse(i));
  }

  async loadPending(
    leadId: string,
    eventIds: string[],
  ): Promise<{ lead: Lead | undefined; pending: LeadEvent[]; invalid: Map<string, string> }> {
    const lead = await this.getLead(leadId);
    const unique = [...new Set(eventIds)];
    const pending: LeadEvent[] = [];
    const invalid = new Map<string, string>();
    for (let i = 0; i < unique.length; i += 100) {
      let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: unique.slice(i, i + 100).map((id) => keys.event(leadId, id)), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of out.Responses?.[this.tableName] ?? []) {
          if (item.appliedAt !== undefined) continue;
          const parsed = LeadEvent.safeParse(item);
          if (parsed.success) pending.push(parsed.data);
          else {
            const issue = parsed.error.issues[0];
            invalid.set(String(item.eventId), `${issue?.path.join('.') || '(item)'}: ${issue?.message ?? 'invalid'}`);
          }
        }
        request = out.UnprocessedKeys as typeof request;
      }
    }
    return { lead, pending, invalid };
  }

  /**
   * Also records, in the same transaction, the lifecycle events the transitions call for (`leadEventsFor`): the outbox
   * the publisher reads from the table's stream, so an event is published once it is committed and never before.
   */
  async commitScoring(lead: Lead, appliedEventIds: string[], transitions: StageTransition[]): Promise<void> {
    const appliedAt = new Date().toISOString();
    const outbox = leadEventsFor(lead, transitions);
    assertItemFits(leadItem(lead));
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: leadItem(lead),
                ConditionExpression: '#v = :prev',
                ExpressionAttributeNames: { '#v': 'version' },
                ExpressionAttributeValues: { ':prev': lead.version - 1 },
              },
            },
            ...appliedEventIds.map((id) => ({
              Update: {
                TableName: this.tableName,
                Key: keys.event(lead.leadId, id),
                // Applied: it leaves the pending index.
                UpdateExpression: 'SET appliedAt = :at REMOVE #pendingPk, #pendingSk',
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(appliedAt)',
                ExpressionAttributeNames: {
                  '#pendingPk': TABLE.pendingIndex.partitionKey,
                  '#pendingSk': TABLE.pendingIndex.sortKey,
                },
                ExpressionAttributeValues: { ':at': appliedAt },
              },
            })),
            ...transitions.map((t) => ({
              Put: {
                TableName: this.tableName,
                Item: stageItem(lead.leadId, t),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            })),
            ...outbox.map((record) => ({
              Put: {
                TableName: this.tableName,
                Item: outboxItem(lead.leadId, record, appliedAt),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            })),
          ],
        }),
      );
    } catch (e) {
      // Both mean another writer got there first (or at the same time): the caller re-reads and tries again.
      if (isConditionFailure(e) || isTransactionConflict(e)) {
        throw new ConflictError(`lead ${lead.leadId} changed concurrently`);
      }
      throw e;
    }
  }

  /** OutboxStore: claims an unpublished outbox item with a lease (a conditional update). */
  async claimOutbox(key: OutboxKey, now: Date, leaseMs: number): Promise<ClaimResult> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.outbox(key.leadId, key.eventId),
          UpdateExpression: 'SET claimedUntil = :until ADD claims :one',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(publishedAt) AND (attribute_not_exists(claimedUntil) OR claimedUntil < :now)',
          ExpressionAttributeValues: {
            ':until': new Date(now.getTime() + leaseMs).toISOString(),
            ':now': now.toISOString(),
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { kind: 'claimed', record: OutboxItem.parse(out.Attributes) };
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      const { Item } = await this.db.send(
        new GetCommand({ TableName: this.tableName, Key: keys.outbox(key.leadId, key.eventId), ConsistentRead: true }),
      );
      if (!Item) return { kind: 'gone' };
      return typeof Item.publishedAt === 'string' ? { kind: 'published' } : { kind: 'in_flight' };
    }
  }

  /** OutboxStore: marks an outbox item published. */
  async markPublished(key: OutboxKey, at: Date): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.outbox(key.leadId, key.eventId),
          UpdateExpression: 'SET publishedAt = :at REMOVE claimedUntil',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':at': at.toISOString() },
        }),
      )
      .catch((e: unknown) => {
        // Erased meanwhile: nothing is left to mark.
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      });
  }

  /** OutboxStore: gives a claim up. */
  async releaseClaim(key: OutboxKey): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.outbox(key.leadId, key.eventId),
          UpdateExpression: 'REMOVE claimedUntil',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(publishedAt)',
        }),
      )
      .catch((e: unknown) => {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      });
  }

  /** Saves a lead that only this writer changes right now, with the same optimistic version check. */
  async saveLead(lead: Lead): Promise<void> {
    await this.commitScoring(lead, [], []);
  }

  /** Everything stored under the lead's partition, raw: for export and erasure. */
  async partitionItems(leadId: string): Promise<Item[]> {
    return this.queryPrefix(leadId, '');
  }

  /**
   * Erases the lead, its identity, events and history, and keeps only a suppression entry (a hash of the address).
   * Returns false if there was no such lead.
   */
  async eraseLead(leadId: string, at: Date): Promise<boolean> {
    const lead = await this.getLead(leadId);
    if (!lead) return false;
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.suppression(emailHash(lead.email)),
          entity: 'suppression',
          reason: 'erased',
          at: at.toISOString(),
        },
      }),
    );
    const items = await this.partitionItems(leadId);
    const toDelete = [keys.identity(lead.email), ...items.map((i) => ({ pk: i.pk, sk: i.sk }))];
    for (let i = 0; i < toDelete.length; i += 25) {
      let request: Record<string, { DeleteRequest: { Key: Item } }[]> | undefined = {
        [this.tableName]: toDelete.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })),
      };
      while (request && Object.keys(request).length > 0) {
        const out = await this.db.send(new BatchWriteCommand({ RequestItems: request }));
        request = out.UnprocessedItems as typeof request;
      }
    }
    return true;
  }

  /** True if the address was erased or otherwise suppressed for good. */
  async isSuppressed(email: string): Promise<boolean> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.suppression(emailHash(email)) }),
    );
    return Item !== undefined;
  }

  /**
   * Due leads of one review-index shard (DESIGN §7): the leads whose reviewAt is at or before `asOf`, oldest first,
   * read whole from the index (it projects all attributes), so each due lead costs one item read. `after` is the
   * `position` of the last lead already processed (its review-index sort key); the page starts right after it.
   */
  async dueLeads(shard: number, asOf: Date, limit: number, after?: string): Promise<DuePage> {
    const { partitionKey: gsiPk, sortKey: gsiSk } = TABLE.reviewIndex;
    const shardKey = keys.reviewShard(shard);
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TABLE.reviewIndex.name,
        // Sort keys are `<reviewAt>#<leadId>`: every key of a lead due at `asOf` sorts before `<asOf>$` ('$' follows '#').
        KeyConditionExpression: '#pk = :shard AND #sk < :until',
        ExpressionAttributeNames: { '#pk': gsiPk, '#sk': gsiSk },
        ExpressionAttributeValues: { ':shard': shardKey, ':until': `${asOf.toISOString()}$` },
        Limit: limit,
        ...(after ? { ExclusiveStartKey: reviewStartKey(shardKey, after) } : {}),
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    const leads = (out.Items ?? []).map((item) => {
      const position = item[gsiSk];
      if (typeof position !== 'string') throw new Error(`review index item without ${gsiSk}`);
      return { lead: Lead.parse(item), position };
    });
    return {
      leads,
      itemsRead: out.ScannedCount ?? leads.length,
      ...(out.ConsumedCapacity?.CapacityUnits !== undefined && { readUnits: out.ConsumedCapacity.CapacityUnits }),
      more: out.LastEvaluatedKey !== undefined,
    };
  }

  /** Every stored lead, page by page (a full scan: for operator tools such as the model preview, never a hot path). */
  async *allLeads(pageSize = 500): AsyncGenerator<Lead> {
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'entity = :lead',
          ExpressionAttributeValues: { ':lead': 'lead' },
          Limit: pageSize,
          ExclusiveStartKey,
        }),
      );
      for (const item of out.Items ?? []) yield Lead.parse(item);
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  private async queryRange(leadId: string, from: string, to: string): Promise<Item[]> {
    const items: Item[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': keys.lead(leadId).pk, ':from': from, ':to': to },
          ExclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      items.push(...(out.Items ?? []));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  private async queryPrefix(leadId: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.lead(leadId).pk, ...(prefix ? { ':prefix': prefix } : {}) },
          ExclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      items.push(...(out.Items ?? []));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }
}
