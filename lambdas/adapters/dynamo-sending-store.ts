import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { DAY_MS } from '../domain/clock.js';
import {
  LedgerEntry,
  SendingState,
  TouchClaim,
  utcDay,
  type ClaimOutcome,
  type SendingDay,
  type SendingStore,
  type SendLedger,
} from '../domain/nurture/sending.js';
import type { ConfirmationMailStore } from '../domain/nurture/confirmation.js';
import { keys } from './table-definition.js';

/**
 * The sending records on the lead table (SendingStore). None of their sort keys starts with `EVENT#`, so the stream
 * filter never hands them to scoring.
 *
 * | item              | pk              | sk              | notes                                              |
 * |-------------------|-----------------|-----------------|----------------------------------------------------|
 * | touch claim       | LEAD#<leadId>   | TOUCH#<touchId> | one mail per touch; erased with the lead            |
 * | send ledger       | LEAD#<leadId>   | SENDS           | the cap's window, written with a version check     |
 * | sending state     | SENDING         | STATE           | the reputation brake: paused, why, since when       |
 * | sending day       | SENDING         | DAY#<yyyy-mm-dd>| sends, hard bounces, complaints of a UTC day (TTL)  |
 * | counted feedback  | SENDING         | FEEDBACK#<id>   | a bounce or complaint counted once (TTL)            |
 * | confirmation mails| LEAD#<leadId>   | CONFIRM-MAILS   | the confirmation mail's rate limit per address      |
 */
const SENDING_PK = 'SENDING';
export const sendingKeys = {
  claim: (leadId: string, touchId: string) => ({ pk: keys.lead(leadId).pk, sk: `TOUCH#${touchId}` }),
  ledger: (leadId: string) => ({ pk: keys.lead(leadId).pk, sk: 'SENDS' }),
  state: () => ({ pk: SENDING_PK, sk: 'STATE' }),
  day: (day: string) => ({ pk: SENDING_PK, sk: `DAY#${day}` }),
  feedback: (eventId: string) => ({ pk: SENDING_PK, sk: `FEEDBACK#${eventId}` }),
  confirmations: (leadId: string) => ({ pk: keys.lead(leadId).pk, sk: 'CONFIRM-MAILS' }),
} as const;

/** Day counters and feedback markers outlive any window (at most 30 days) and then expire. */
const COUNTER_TTL_DAYS = 45;
const expiresAt = (at: Date): number => Math.floor((at.getTime() + COUNTER_TTL_DAYS * DAY_MS) / 1000);

const reasonCodes = (e: unknown): (string | undefined)[] =>
  e instanceof TransactionCanceledException ? (e.CancellationReasons ?? []).map((r) => r.Code) : [];

async function retryingConflicts<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (!reasonCodes(e).includes('TransactionConflict') || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
    }
  }
}

export class DynamoSendingStore implements SendingStore, ConfirmationMailStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async getClaim(leadId: string, touchId: string): Promise<TouchClaim | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: sendingKeys.claim(leadId, touchId), ConsistentRead: true }),
    );
    return Item ? TouchClaim.parse(Item) : undefined;
  }

  async getLedger(leadId: string): Promise<SendLedger> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: sendingKeys.ledger(leadId), ConsistentRead: true }),
    );
    if (!Item) return { entries: [], version: 0 };
    return { entries: LedgerEntry.array().parse(Item.entries), version: Number(Item.version) };
  }

  async claimTouch(claim: TouchClaim, ledger: SendLedger): Promise<ClaimOutcome> {
    try {
      await retryingConflicts(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.tableName,
                  Key: keys.lead(claim.leadId),
                  // The owning run of a lead that exists and is not being erased (a tombstone has no nurture state).
                  ConditionExpression: '#n.#x = :exec AND #n.#s = :active AND attribute_not_exists(erasure)',
                  ExpressionAttributeNames: { '#n': 'nurture', '#x': 'executionName', '#s': 'status' },
                  ExpressionAttributeValues: { ':exec': claim.executionName, ':active': 'active' },
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: { ...sendingKeys.claim(claim.leadId, claim.touchId), entity: 'touch-claim', ...claim },
                  ConditionExpression: 'attribute_not_exists(pk) OR #state = :released',
                  ExpressionAttributeNames: { '#state': 'state' },
                  ExpressionAttributeValues: { ':released': 'released' },
                },
              },
              this.ledgerPut(claim.leadId, ledger),
            ],
          }),
        ),
      );
      return 'claimed';
    } catch (e) {
      const [owner, touch, window] = reasonCodes(e);
      if (owner === 'ConditionalCheckFailed') return 'not_owner';
      if (touch === 'ConditionalCheckFailed') return 'claimed_elsewhere';
      if (window === 'ConditionalCheckFailed') return 'ledger_changed';
      throw e;
    }
  }

  async markSent(leadId: string, touchId: string, messageId: string, at: Date): Promise<boolean> {
    return this.finish(leadId, touchId, at, 'sent', { messageId, sentAt: at.toISOString() });
  }

  async markUnconfirmed(leadId: string, touchId: string, at: Date): Promise<boolean> {
    return this.finish(leadId, touchId, at, 'unconfirmed', {});
  }

  async release(leadId: string, touchId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const ledger = await this.getLedger(leadId);
      const without: SendLedger = { ...ledger, entries: ledger.entries.filter((e) => e.touchId !== touchId) };
      try {
        await retryingConflicts(() =>
          this.db.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Update: {
                    TableName: this.tableName,
                    Key: sendingKeys.claim(leadId, touchId),
                    UpdateExpression: 'SET #state = :released',
                    ConditionExpression: '#state = :sending',
                    ExpressionAttributeNames: { '#state': 'state' },
                    ExpressionAttributeValues: { ':released': 'released', ':sending': 'sending' },
                  },
                },
                this.ledgerPut(leadId, without),
              ],
            }),
          ),
        );
        return;
      } catch (e) {
        const [claim, window] = reasonCodes(e);
        if (claim === 'ConditionalCheckFailed') return; // finished or released by another invocation
        if (window !== 'ConditionalCheckFailed' || attempt >= 10) throw e;
      }
    }
  }

  async takeConfirmationSlot(leadId: string, windowStart: string, max: number): Promise<boolean> {
    const Key = sendingKeys.confirmations(leadId);
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'SET mails = mails + :one',
          ConditionExpression: 'windowStart = :w AND mails < :max',
          ExpressionAttributeValues: { ':one': 1, ':w': windowStart, ':max': max },
        }),
      );
      return true;
    } catch (e) {
      if (!(e instanceof Error && e.name === 'ConditionalCheckFailedException')) throw e;
    }
    // A new counter is created only while the lead exists and is not being erased (in the same transaction), so none
    // outlives the lead's erasure.
    try {
      await retryingConflicts(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.tableName,
                  Key: keys.lead(leadId),
                  ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(erasure)',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: { ...Key, entity: 'confirmation-mails', windowStart, mails: 1 },
                  ConditionExpression: 'attribute_not_exists(pk) OR windowStart < :w',
                  ExpressionAttributeValues: { ':w': windowStart },
                },
              },
            ],
          }),
        ),
      );
      return true;
    } catch (e) {
      if (reasonCodes(e).includes('ConditionalCheckFailed')) return false;
      throw e;
    }
  }

  async countSend(at: Date): Promise<void> {
    await this.db.send(new UpdateCommand(this.dayUpdate(at, 'sends')));
  }

  async countFeedback(kind: 'bounce' | 'complaint', eventId: string, at: Date): Promise<boolean> {
    try {
      await retryingConflicts(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    ...sendingKeys.feedback(eventId),
                    entity: 'sending-feedback',
                    kind,
                    expiresAt: expiresAt(at),
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              { Update: this.dayUpdate(at, kind === 'bounce' ? 'bounces' : 'complaints') },
            ],
          }),
        ),
      );
      return true;
    } catch (e) {
      if (reasonCodes(e)[0] === 'ConditionalCheckFailed') return false;
      throw e;
    }
  }

  async days(from: Date, to: Date): Promise<SendingDay[]> {
    const wanted: string[] = [];
    for (let t = Date.parse(`${utcDay(from)}T00:00:00.000Z`); t <= to.getTime(); t += DAY_MS) {
      wanted.push(utcDay(new Date(t)));
    }
    const found = new Map<string, SendingDay>();
    for (let i = 0; i < wanted.length; i += 100) {
      let request: Record<string, { Keys: Record<string, string>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: wanted.slice(i, i + 100).map((d) => sendingKeys.day(d)), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const day = String(item.sk).slice('DAY#'.length);
          found.set(day, {
            day,
            sends: Number(item.sends ?? 0),
            bounces: Number(item.bounces ?? 0),
            complaints: Number(item.complaints ?? 0),
          });
        }
        request = out.UnprocessedKeys as typeof request;
      }
    }
    return wanted.map((day) => found.get(day) ?? { day, sends: 0, bounces: 0, complaints: 0 });
  }

  async getState(): Promise<SendingState> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: sendingKeys.state(), ConsistentRead: true }),
    );
    return Item ? SendingState.parse(Item) : { paused: false };
  }

  async pause(reason: string, at: Date): Promise<boolean> {
    const previous = await this.getState();
    if (previous.paused) return false;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...sendingKeys.state(),
            ...previous,
            entity: 'sending-state',
            paused: true,
            reason,
            pausedAt: at.toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR paused = :no',
          ExpressionAttributeValues: { ':no': false },
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof Error && e.name === 'ConditionalCheckFailedException') return false;
      throw e;
    }
  }

  async resume(at: Date, baseline: SendingDay): Promise<void> {
    const state: SendingState = { paused: false, resumedAt: at.toISOString(), baseline };
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...sendingKeys.state(), entity: 'sending-state', ...state },
      }),
    );
  }

  /** The ledger written only if it is still at the version read (or absent, for version 0). */
  private ledgerPut(leadId: string, ledger: SendLedger) {
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          ...sendingKeys.ledger(leadId),
          entity: 'send-ledger',
          entries: ledger.entries,
          version: ledger.version + 1,
        },
        ConditionExpression: ledger.version === 0 ? 'attribute_not_exists(pk)' : '#v = :v',
        ...(ledger.version === 0
          ? {}
          : { ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': ledger.version } }),
      },
    };
  }

  private dayUpdate(at: Date, counter: 'sends' | 'bounces' | 'complaints') {
    return {
      TableName: this.tableName,
      Key: sendingKeys.day(utcDay(at)),
      UpdateExpression: 'ADD #c :one SET entity = :entity, expiresAt = :ttl',
      ExpressionAttributeNames: { '#c': counter },
      ExpressionAttributeValues: { ':one': 1, ':entity': 'sending-day', ':ttl': expiresAt(at) },
    };
  }

  /** `sending` → `state`, with the day's send counted, in one transaction; false if the claim was not sending. */
  private async finish(
    leadId: string,
    touchId: string,
    at: Date,
    state: 'sent' | 'unconfirmed',
    extra: Record<string, string>,
  ): Promise<boolean> {
    const names: Record<string, string> = { '#state': 'state' };
    const values: Record<string, string> = { ':state': state, ':sending': 'sending' };
    const sets = ['#state = :state'];
    for (const [k, v] of Object.entries(extra)) {
      names[`#${k}`] = k;
      values[`:${k}`] = v;
      sets.push(`#${k} = :${k}`);
    }
    try {
      await retryingConflicts(() =>
        this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.tableName,
                  Key: sendingKeys.claim(leadId, touchId),
                  UpdateExpression: `SET ${sets.join(', ')}`,
                  ConditionExpression: '#state = :sending',
                  ExpressionAttributeNames: names,
                  ExpressionAttributeValues: values,
                },
              },
              { Update: this.dayUpdate(at, 'sends') },
            ],
          }),
        ),
      );
      return true;
    } catch (e) {
      if (reasonCodes(e)[0] === 'ConditionalCheckFailed') return false;
      throw e;
    }
  }
}
