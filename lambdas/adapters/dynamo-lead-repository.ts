import { createHash, randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
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
import type { ErasureStatus, ErasureStore } from '../domain/erasure.js';
import type { ClaimResult, OutboxKey } from '../domain/publish-lead-events.js';
import { lookupsOf, type EventLookup } from '../domain/event-lookups.js';
import type { LeadRepository } from '../domain/ports.js';
import type { DuePage, ReviewIndex } from '../domain/sweep.js';
import { TABLE, keys, reviewShardOf } from './table-definition.js';
import type { AddressHasher } from './address-hash.js';
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

/** A repository given no address hasher cannot suppress or check suppressions: it says so when asked to. */
const noAddressHasher: AddressHasher = {
  hash: () => Promise.reject(new Error('no suppression key: the repository was built without an address hasher')),
};

/** The condition every append to a lead's partition carries: the lead exists and is not being erased. */
const LEAD_IS_LIVE = 'attribute_exists(pk) AND attribute_not_exists(erasure)';

/** The lead item's index keys, which a new lead is put without (its first scoring commit writes them). */
const LEAD_INDEX_KEYS: ReadonlySet<string> = new Set(
  [TABLE.byStageIndex, TABLE.reviewIndex].flatMap((index) => [index.partitionKey, index.sortKey]),
);

/** The erasure record as stored (validated, never cast). */
const ErasureItem = z.object({
  leadId: z.string(),
  requestedAt: z.string(),
  run: z.object({ track: z.string(), executionName: z.string() }).optional(),
  runStopped: z.boolean().default(false),
  itemsDeleted: z.number().int().nonnegative().default(0),
});

/** Sort keys of the two items an erasure deletes last. */
const ERASURE_LAST = new Set([keys.lead('').sk, keys.erasure('').sk]);

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
export class DynamoLeadRepository implements LeadRepository, ReviewIndex, ErasureStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
    /** Keys the suppression entries (address-hash.ts). @default - none: suppressing or checking one fails */
    private readonly addresses: AddressHasher = noAddressHasher,
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
    // A tombstone reads as no lead: the erasure under way is `erasureStatus`'s business.
    return Item && Item.erasure === undefined ? Lead.parse(Item) : undefined;
  }

  /**
   * Two conditional puts, no transaction (a transaction bills every item twice): the lead first, without index keys
   * (the first scoring commit writes them, a moment later), then the identity that makes the address one lead. The
   * loser of a concurrent first submission deletes its lead and uses the winner's. A crash between the two leaves a
   * lead item no address, index or event points to: never counted, never mailed.
   */
  async createLead(lead: Lead): Promise<{ leadId: string; created: boolean }> {
    const unindexed = Object.fromEntries(Object.entries(leadItem(lead)).filter(([k]) => !LEAD_INDEX_KEYS.has(k)));
    // A new lead id is unique: an item already under it is this very put, retried by the SDK after a lost answer.
    await this.putIfAbsent(unindexed, () => true);
    const identity = {
      ...keys.identity(lead.email),
      entity: 'identity',
      leadId: lead.leadId,
      createdAt: lead.createdAt,
    };
    if (await this.putIfAbsent(identity, (old) => old.leadId?.S === lead.leadId)) {
      return { leadId: lead.leadId, created: true };
    }
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: keys.lead(lead.leadId) }));
    const existing = await this.findLeadIdByEmail(lead.email);
    if (!existing) throw new ConflictError('the address was registered and erased while this lead was created');
    return { leadId: existing, created: false };
  }

  /**
   * Puts an item unless its key is taken. True when written, or when the item already there is this same write (`ours`
   * tells, from the stored item's attributes): the SDK retries a put whose answer was lost, and its second attempt
   * finds the first.
   */
  private async putIfAbsent(item: Item, ours: (old: Record<string, { S?: string }>) => boolean): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return true;
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      return ours((e.Item ?? {}) as Record<string, { S?: string }>);
    }
  }

  /**
   * Every append ends with its lead live, or with nothing written: an event can never outlive its lead's erasure.
   * An event with lookup copies goes in one transaction with them and a check of the lead (a lookup never exists
   * without its event, nor the reverse). Any other event — forms, tracked events, most of the log — is one conditional
   * put (a transaction would bill the put, its index entry and the check twice: 6 write units instead of 2), then a
   * strongly consistent read of the lead: if the lead is erased or being erased by then, the event is deleted again
   * and the append answers `gone`. Either the read sees the tombstone, or the event was written before it and the
   * erase worker, which starts after the tombstone and reads the partition consistently, deletes it.
   */
  async appendEvent(event: LeadEvent): Promise<'recorded' | 'duplicate' | 'gone'> {
    const lookups = eventLookupItems(event);
    if (lookups.length > 0) return this.appendWithLookups(event, lookups);
    // `writeId` tells this put, retried by the SDK after a lost answer, from another call's copy of the same event.
    const writeId = randomUUID();
    const outcome = (await this.putIfAbsent({ ...eventItem(event), writeId }, (old) => old.writeId?.S === writeId))
      ? 'recorded'
      : 'duplicate';
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.lead(event.leadId),
        ProjectionExpression: 'pk, erasure',
        ConsistentRead: true,
      }),
    );
    if (Item && Item.erasure === undefined) return outcome;
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: keys.event(event.leadId, event.eventId) }));
    return 'gone';
  }

  private async appendWithLookups(event: LeadEvent, lookups: Item[]): Promise<'recorded' | 'duplicate' | 'gone'> {
    try {
      await transact(
        () =>
          this.db.send(
            new TransactWriteCommand({
              TransactItems: [
                this.leadIsLive(event.leadId),
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
        10,
      );
      return 'recorded';
    } catch (e) {
      if (!(e instanceof TransactionCanceledException)) throw e;
      const [lead, item] = (e.CancellationReasons ?? []).map((r) => r.Code);
      if (lead === 'ConditionalCheckFailed') return 'gone';
      if (item === 'ConditionalCheckFailed') return 'duplicate';
      throw e;
    }
  }

  /** A transaction item that holds only while the lead exists and is not being erased. */
  leadIsLive(leadId: string) {
    return {
      ConditionCheck: { TableName: this.tableName, Key: keys.lead(leadId), ConditionExpression: LEAD_IS_LIVE },
    };
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
  /**
   * Brings one event item stored before the lookups and the pending index existed up to date (`leadloop backfill`):
   * its missing lookup copies put (the same content as at append), and, when it was never applied, its pending index
   * keys. Both in one transaction with the check that the lead is live: a lead being erased
   * gets nothing back. `invalid` for an item that is not a readable event.
   */
  async backfillEvent(item: Item): Promise<'updated' | 'current' | 'gone' | 'invalid'> {
    const parsed = LeadEvent.safeParse(item);
    if (!parsed.success) return 'invalid';
    const event = parsed.data;
    const lookups: Item[] = [];
    for (const lookup of eventLookupItems(event)) {
      const { Item: stored } = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: lookup.pk, sk: lookup.sk },
          ProjectionExpression: 'pk',
          ConsistentRead: true,
        }),
      );
      if (!stored) lookups.push(lookup);
    }
    const unindexed = item.appliedAt === undefined && item[TABLE.pendingIndex.partitionKey] === undefined;
    if (lookups.length === 0 && !unindexed) return 'current';
    const { [TABLE.pendingIndex.partitionKey]: pendingPk, [TABLE.pendingIndex.sortKey]: pendingSk } = eventItem(event);
    try {
      await transact(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              this.leadIsLive(event.leadId),
              ...lookups.map((Item) => ({ Put: { TableName: this.tableName, Item } })),
              ...(unindexed
                ? [
                    {
                      Update: {
                        TableName: this.tableName,
                        Key: keys.event(event.leadId, event.eventId),
                        UpdateExpression: 'SET #pk = :pk, #sk = :sk',
                        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(appliedAt)',
                        ExpressionAttributeNames: {
                          '#pk': TABLE.pendingIndex.partitionKey,
                          '#sk': TABLE.pendingIndex.sortKey,
                        },
                        ExpressionAttributeValues: { ':pk': pendingPk, ':sk': pendingSk },
                      },
                    },
                  ]
                : []),
            ],
          }),
        ),
      );
      return 'updated';
    } catch (e) {
      if (!(e instanceof TransactionCanceledException)) throw e;
      const reasons = (e.CancellationReasons ?? []).map((r) => r.Code);
      if (reasons[0] === 'ConditionalCheckFailed') return 'gone';
      // Applied (or deleted) since it was read: nothing to index any more, the lookups still to write.
      if (unindexed && reasons.at(-1) === 'ConditionalCheckFailed') {
        const applied = await this.backfillEvent({ ...item, appliedAt: 'since the read' });
        return applied === 'current' ? 'current' : applied;
      }
      throw e;
    }
  }

  async saveLead(lead: Lead): Promise<void> {
    await this.commitScoring(lead, [], []);
  }

  /** Everything stored under the lead's partition, raw: for export and erasure. */
  async partitionItems(leadId: string): Promise<Item[]> {
    return this.queryPrefix(leadId, '');
  }

  /**
   * One page of the lead's events in storage order (by event id), `after` the last event id of the previous page: what
   * an export reads, so that a lead with any number of events is exported in bounded pages.
   */
  async eventsPage(leadId: string, limit: number, after?: string): Promise<{ events: LeadEvent[]; next?: string }> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.lead(leadId).pk, ':prefix': keys.event('', '').sk },
        Limit: limit,
        ...(after ? { ExclusiveStartKey: keys.event(leadId, after) } : {}),
        ConsistentRead: true,
      }),
    );
    const events = (out.Items ?? []).map((i) => LeadEvent.parse(i));
    const last = events.at(-1);
    return { events, ...(out.LastEvaluatedKey && last ? { next: last.eventId } : {}) };
  }

  /**
   * ErasureStore: the tombstone, in one transaction that holds only if the lead is still at the version read and not
   * being erased: the lead item becomes a tombstone (no personal data, no index keys), the identity is deleted, the
   * keyed hash of the address is suppressed and the erasure record is put (its stream record starts the erase worker).
   */
  async requestErasure(
    leadId: string,
    at: Date,
  ): Promise<{ outcome: 'requested' | 'already'; status: ErasureStatus } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const { Item } = await this.db.send(
        new GetCommand({ TableName: this.tableName, Key: keys.lead(leadId), ConsistentRead: true }),
      );
      if (!Item) return undefined;
      if (Item.erasure !== undefined) {
        const status = await this.erasureStatus(leadId);
        return status ? { outcome: 'already', status } : undefined;
      }
      const lead = Lead.parse(Item);
      const run =
        lead.nurture?.status === 'active'
          ? { track: lead.nurture.track, executionName: lead.nurture.executionName }
          : undefined;
      const status: ErasureStatus = {
        leadId,
        requestedAt: at.toISOString(),
        ...(run ? { run } : {}),
        runStopped: false,
        itemsDeleted: 0,
      };
      const suppression = await this.addresses.hash(lead.email);
      try {
        await transact(() =>
          this.db.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Put: {
                    TableName: this.tableName,
                    Item: {
                      ...keys.lead(leadId),
                      entity: 'erased-lead',
                      leadId,
                      erasure: { requestedAt: status.requestedAt },
                      version: lead.version + 1,
                    },
                    ConditionExpression: '#v = :v AND attribute_not_exists(erasure)',
                    ExpressionAttributeNames: { '#v': 'version' },
                    ExpressionAttributeValues: { ':v': lead.version },
                  },
                },
                {
                  Delete: {
                    TableName: this.tableName,
                    Key: keys.identity(lead.email),
                    ConditionExpression: 'attribute_not_exists(pk) OR leadId = :id',
                    ExpressionAttributeValues: { ':id': leadId },
                  },
                },
                {
                  Put: {
                    TableName: this.tableName,
                    Item: {
                      ...keys.suppression(suppression),
                      entity: 'suppression',
                      reason: 'erased',
                      at: status.requestedAt,
                    },
                  },
                },
                {
                  Put: {
                    TableName: this.tableName,
                    Item: { ...keys.erasure(leadId), entity: 'erasure', ...status },
                  },
                },
              ],
            }),
          ),
        );
        return { outcome: 'requested', status };
      } catch (e) {
        // The lead changed (or was erased) since it was read: read it again.
        if (!isConditionFailure(e) || attempt >= 10) throw e;
      }
    }
  }

  /** ErasureStore: the erasure under way, if any. */
  async erasureStatus(leadId: string): Promise<ErasureStatus | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.erasure(leadId), ConsistentRead: true }),
    );
    return Item ? ErasureItem.parse(Item) : undefined;
  }

  /** ErasureStore: deletes up to `limit` items of the partition, the tombstone and the erasure record aside. */
  async deletePartitionPage(leadId: string, limit: number): Promise<{ deleted: number; more: boolean }> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.lead(leadId).pk },
        ProjectionExpression: 'pk, sk',
        // Two more than asked: the tombstone and the erasure record may be among them.
        Limit: limit + ERASURE_LAST.size,
        ConsistentRead: true,
      }),
    );
    const toDelete = (out.Items ?? [])
      .filter((i) => !ERASURE_LAST.has(String(i.sk)))
      .map((i) => ({ pk: i.pk, sk: i.sk }));
    await Promise.all(
      Array.from({ length: Math.ceil(toDelete.length / 25) }, (_, n) =>
        this.batchDelete(toDelete.slice(n * 25, n * 25 + 25)),
      ),
    );
    return { deleted: toDelete.length, more: out.LastEvaluatedKey !== undefined || toDelete.length > 0 };
  }

  /** ErasureStore: progress on the erasure record (a MODIFY on the stream: the erase worker comes back). */
  async recordErasureProgress(leadId: string, progress: { deleted: number; runStopped: boolean }): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.erasure(leadId),
          UpdateExpression: 'ADD itemsDeleted :n, passes :one SET runStopped = :stopped',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':n': progress.deleted, ':one': 1, ':stopped': progress.runStopped },
        }),
      )
      .catch((e: unknown) => {
        // Finished meanwhile (by another call): nothing is left to record.
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      });
  }

  /** ErasureStore: the tombstone and the erasure record, the last items of the lead, in one transaction. */
  async finishErasure(leadId: string): Promise<void> {
    await transact(() =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: this.tableName, Key: keys.erasure(leadId) } },
            { Delete: { TableName: this.tableName, Key: keys.lead(leadId) } },
          ],
        }),
      ),
    );
  }

  private async batchDelete(itemKeys: Item[]): Promise<void> {
    let request: Record<string, { DeleteRequest: { Key: Item } }[]> | undefined = {
      [this.tableName]: itemKeys.map((Key) => ({ DeleteRequest: { Key } })),
    };
    for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 20 * 2 ** attempt)));
      const out = await this.db.send(new BatchWriteCommand({ RequestItems: request }));
      request = out.UnprocessedItems as typeof request;
    }
  }

  /**
   * True if the address was erased or otherwise suppressed for good: under its keyed hash, or under the plain SHA-256
   * that suppressions made before keyed hashing used (those entries are still honoured; none is written any more).
   */
  async isSuppressed(email: string): Promise<boolean> {
    const hashes = [await this.addresses.hash(email), createHash('sha256').update(email).digest('hex')];
    const found = await Promise.all(
      hashes.map((hash) =>
        this.db.send(new GetCommand({ TableName: this.tableName, Key: keys.suppression(hash), ConsistentRead: true })),
      ),
    );
    return found.some(({ Item }) => Item !== undefined);
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
