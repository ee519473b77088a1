import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type AttributeValue as StreamAttributeValue,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import * as z from 'zod';
import { lambdaContext } from './lambda-context.js';
import type { LambdaHandler } from './lambda.js';

/**
 * Feeds the table's DynamoDB stream to a Lambda handler the way Lambda's event source mapping does: batches in the
 * Lambda `DynamoDBStreamEvent` shape, filter criteria, `reportBatchItemFailures` (retry from the first failed
 * record), bisection of batches whose invocation fails as a whole, a bounded number of attempts per record and then
 * an on-failure destination (a JSON-lines "DLQ" file), parent shards before their children, and a checkpoint per
 * shard that survives restarts.
 */

export interface StreamPollerOptions {
  endpoint: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  tableName: string;
  handler: LambdaHandler;
  /** For the invocation context and the logs. @default 'leadloop-local-score-stream' */
  functionName?: string;
  /** Records per invocation. @default 25 */
  batchSize?: number;
  /**
   * Retries of a failing record before it goes to the DLQ (so `retryAttempts + 1` invocations), as the stack's
   * event source mapping (lib/scoring-pipeline.ts). @default 5
   */
  retryAttempts?: number;
  /** Pause between polls when the stream is idle. @default 200 */
  pollIntervalMs?: number;
  /** The function's timeout as the invocation context reports it. @default 30 s */
  timeoutMs?: number;
  /** Which records reach the handler; the others are skipped, as Lambda's filter criteria do. @default eventInserts */
  filter?: (record: DynamoDBRecord) => boolean;
  /** Where the last processed sequence number per shard is kept; in memory only when absent. */
  checkpointFile?: string;
  /** Where records that exhausted their attempts are appended (JSON lines); in memory only when absent. */
  dlqFile?: string;
  /** Called with each record that exhausted its attempts (the mapping's on-failure destination). */
  onDeadLetter?: (entry: DeadLetter) => void;
  log?: (line: string) => void;
}

/** A record that failed `attempts` times and was set aside. */
export interface DeadLetter {
  at: string;
  functionName: string;
  streamArn: string;
  shardId: string;
  sequenceNumber: string;
  attempts: number;
  reason: string;
  record: DynamoDBRecord;
}

export interface StreamPoller {
  readonly streamArn: string;
  /** Records set aside since start (also appended to `dlqFile`). */
  readonly deadLetters: readonly DeadLetter[];
  /**
   * Resolves once a complete poll that started after this call found no unprocessed record and no retry pending,
   * i.e. everything written to the table before the call has been handled (or dead-lettered).
   */
  drain(opts?: { timeoutMs?: number }): Promise<void>;
  /** Finishes the invocation in flight, saves the checkpoint and stops polling. */
  stop(): Promise<void>;
}

/**
 * The stack's filter: new event items only (`{ eventName: ['INSERT'], dynamodb: { Keys: { sk: { S: [{ prefix:
 * 'EVENT#' }] } } } }`). Lead updates, stage history and the `appliedAt` marks that scoring writes never re-trigger it.
 */
export function eventInserts(record: DynamoDBRecord): boolean {
  return record.eventName === 'INSERT' && (record.dynamodb?.Keys?.sk?.S ?? '').startsWith('EVENT#');
}

const BatchResponse = z.object({
  batchItemFailures: z.array(z.object({ itemIdentifier: z.string().min(1) })),
});

const Checkpoint = z.object({
  streamArn: z.string(),
  shards: z.record(z.string(), z.object({ sequenceNumber: z.string().optional(), done: z.boolean().optional() })),
});
type Checkpoint = z.infer<typeof Checkpoint>;

interface ShardState {
  shardId: string;
  parentShardId: string | undefined;
  /** The last sequence number handled; reading resumes after it. */
  checkpoint: string | undefined;
  /** Read to its end after the shard was closed. */
  done: boolean;
  iterator: string | undefined;
  retryAt: number;
  batchLimit: number;
  failing: { sequenceNumber: string; attempts: number } | undefined;
}

type RoundResult = 'records' | 'waiting' | 'idle';

export async function startStreamPoller(opts: StreamPollerOptions): Promise<StreamPoller> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const functionName = opts.functionName ?? 'leadloop-local-score-stream';
  const batchSize = opts.batchSize ?? 25;
  const maxAttempts = (opts.retryAttempts ?? 5) + 1;
  const pollIntervalMs = opts.pollIntervalMs ?? 200;
  const filter = opts.filter ?? eventInserts;
  const clientConfig = { endpoint: opts.endpoint, region: opts.region, credentials: opts.credentials };
  const streams = new DynamoDBStreamsClient(clientConfig);

  const ddb = new DynamoDBClient(clientConfig);
  let streamArn: string | undefined;
  try {
    const table = await ddb.send(new DescribeTableCommand({ TableName: opts.tableName }));
    streamArn = table.Table?.LatestStreamArn;
  } finally {
    ddb.destroy();
  }
  if (!streamArn) {
    streams.destroy();
    throw new Error(`table ${opts.tableName} has no stream`);
  }
  const arn: string = streamArn;

  const shards = new Map<string, ShardState>();
  const saved = loadCheckpoint(opts.checkpointFile, arn, log);
  const deadLetters: DeadLetter[] = [];
  let roundsStarted = 0;
  let nextRefresh = 0;
  let stopping = false;
  let lastError = '';
  let lastSaved = '';
  let wake: () => void = () => undefined;
  const waiters: { after: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  const persist = () => {
    if (!opts.checkpointFile) return;
    const data: Checkpoint = { streamArn: arn, shards: {} };
    for (const s of shards.values()) {
      data.shards[s.shardId] = {
        ...(s.checkpoint ? { sequenceNumber: s.checkpoint } : {}),
        ...(s.done ? { done: true } : {}),
      };
    }
    const text = JSON.stringify(data, null, 2);
    if (text === lastSaved) return;
    mkdirSync(dirname(opts.checkpointFile), { recursive: true });
    // Written aside and renamed, so a crash mid-write never leaves half a checkpoint.
    const tmp = `${opts.checkpointFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, opts.checkpointFile);
    lastSaved = text;
  };

  const refreshShards = async () => {
    const listed = new Set<string>();
    let start: string | undefined;
    do {
      const out = await streams.send(new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: start }));
      for (const shard of out.StreamDescription?.Shards ?? []) {
        if (!shard.ShardId) continue;
        listed.add(shard.ShardId);
        if (shards.has(shard.ShardId)) continue;
        const prior = saved.shards[shard.ShardId];
        shards.set(shard.ShardId, {
          shardId: shard.ShardId,
          parentShardId: shard.ParentShardId,
          checkpoint: prior?.sequenceNumber,
          done: prior?.done ?? false,
          iterator: undefined,
          retryAt: 0,
          batchLimit: batchSize,
          failing: undefined,
        });
      }
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    for (const s of [...shards.values()]) {
      if (listed.has(s.shardId)) continue;
      if (!s.done) log(`stream ${s.shardId} was trimmed before it was read to its end`);
      shards.delete(s.shardId);
    }
    nextRefresh = Date.now() + 10_000;
    persist();
  };

  const parentDone = (s: ShardState) => {
    const parent = s.parentShardId === undefined ? undefined : shards.get(s.parentShardId);
    return parent === undefined || parent.done;
  };

  const iteratorFor = async (s: ShardState): Promise<string | undefined> => {
    const position = s.checkpoint
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: s.checkpoint }
      : { ShardIteratorType: 'TRIM_HORIZON' as const };
    try {
      const out = await streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: s.shardId, ...position }));
      return out.ShardIterator;
    } catch (e) {
      if (!(e instanceof TrimmedDataAccessException) || !s.checkpoint) throw e;
      log(`stream ${s.shardId}: records after ${s.checkpoint} were trimmed; resuming at the oldest record`);
      s.checkpoint = undefined;
      return iteratorFor(s);
    }
  };

  const deadLetter = (
    s: ShardState,
    record: DynamoDBRecord,
    sequenceNumber: string,
    attempts: number,
    reason: string,
  ) => {
    const entry: DeadLetter = {
      at: new Date().toISOString(),
      functionName,
      streamArn: arn,
      shardId: s.shardId,
      sequenceNumber,
      attempts,
      reason,
      record,
    };
    deadLetters.push(entry);
    opts.onDeadLetter?.(entry);
    if (opts.dlqFile) {
      mkdirSync(dirname(opts.dlqFile), { recursive: true });
      appendFileSync(opts.dlqFile, `${JSON.stringify(entry)}\n`);
    }
    log(
      `stream ${functionName}: record ${sequenceNumber} failed ${attempts} times (${reason}); ` +
        `set aside${opts.dlqFile ? ` in ${opts.dlqFile}` : ' (in memory)'}`,
    );
  };

  /** Invokes the handler with one batch; on failure, rewinds the shard to the first failed record. */
  const invoke = async (s: ShardState, batch: Entry[]): Promise<boolean> => {
    const event: DynamoDBStreamEvent = { Records: batch.map((b) => b.record) };
    let failedIndex: number | undefined;
    let wholeBatch = false;
    let reason = '';
    try {
      const result = BatchResponse.safeParse(
        (await opts.handler(
          event,
          lambdaContext({ functionName, region: opts.region, timeoutMs: opts.timeoutMs ?? 30_000 }),
        )) ?? {
          batchItemFailures: [],
        },
      );
      if (!result.success) {
        [failedIndex, wholeBatch, reason] = [0, true, 'the handler returned an invalid batch response'];
      } else if (result.data.batchItemFailures.length > 0) {
        const indexes = result.data.batchItemFailures.map((f) =>
          batch.findIndex((b) => b.sequenceNumber === f.itemIdentifier),
        );
        if (indexes.some((i) => i < 0)) {
          [failedIndex, wholeBatch, reason] = [0, true, 'batchItemFailures names a record that is not in the batch'];
        } else {
          [failedIndex, reason] = [Math.min(...indexes), 'reported in batchItemFailures'];
        }
      }
    } catch (e) {
      [failedIndex, wholeBatch, reason] = [0, true, e instanceof Error ? e.message : String(e)];
      log(
        `stream ${functionName} failed on a batch of ${batch.length}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    }

    if (failedIndex === undefined) {
      s.checkpoint = batch[batch.length - 1]?.sequenceNumber ?? s.checkpoint;
      s.batchLimit = batchSize;
      s.failing = undefined;
      persist();
      return true;
    }
    const failed = batch[failedIndex];
    if (!failed) throw new Error('unreachable: failed index outside the batch');
    // Everything before the failed record is done; reading resumes at it.
    s.checkpoint = failed.previous;
    s.iterator = undefined;
    if (wholeBatch && batch.length > 1) {
      // Bisect, as BisectBatchOnFunctionError does, until the failing record is alone; halving is not an attempt.
      s.batchLimit = Math.ceil(batch.length / 2);
      persist();
      return false;
    }
    const attempts = (s.failing?.sequenceNumber === failed.sequenceNumber ? s.failing.attempts : 0) + 1;
    if (attempts >= maxAttempts) {
      deadLetter(s, failed.record, failed.sequenceNumber, attempts, reason);
      s.checkpoint = failed.sequenceNumber;
      s.failing = undefined;
      s.batchLimit = batchSize;
    } else {
      s.failing = { sequenceNumber: failed.sequenceNumber, attempts };
      s.retryAt = Date.now() + Math.min(5_000, 250 * 2 ** (attempts - 1));
    }
    persist();
    return false;
  };

  /** Reads the next records of one shard and hands the matching ones to the handler. */
  const pollShard = async (s: ShardState): Promise<RoundResult> => {
    s.iterator ??= await iteratorFor(s);
    if (!s.iterator) {
      s.done = true;
      persist();
      return 'records';
    }
    let out;
    try {
      out = await streams.send(new GetRecordsCommand({ ShardIterator: s.iterator, Limit: 1000 }));
    } catch (e) {
      if (!(e instanceof ExpiredIteratorException)) throw e;
      s.iterator = undefined;
      return 'records';
    }
    const raw = out.Records ?? [];
    if (raw.length === 0) {
      s.iterator = out.NextShardIterator;
      if (!s.iterator) {
        // The shard is closed and read to its end: its children may start.
        s.done = true;
        nextRefresh = 0;
        persist();
        return 'records';
      }
      return 'idle';
    }
    let batch: Entry[] = [];
    let previous = s.checkpoint;
    for (const r of raw) {
      const record = toLambdaRecord(r, arn, opts.region);
      const sequenceNumber = r.dynamodb?.SequenceNumber ?? '';
      if (filter(record)) {
        batch.push({ record, sequenceNumber, previous });
        if (batch.length >= s.batchLimit) {
          if (!(await invoke(s, batch))) return 'records';
          batch = [];
        }
      }
      previous = sequenceNumber;
    }
    if (batch.length > 0 && !(await invoke(s, batch))) return 'records';
    s.checkpoint = previous;
    s.iterator = out.NextShardIterator;
    persist();
    return 'records';
  };

  const round = async (): Promise<RoundResult> => {
    if (Date.now() >= nextRefresh) await refreshShards();
    let result: RoundResult = 'idle';
    for (const s of shards.values()) {
      if (stopping) break;
      if (s.done || !parentDone(s)) continue;
      if (s.retryAt > Date.now()) {
        if (result === 'idle') result = 'waiting';
        continue;
      }
      const r = await pollShard(s);
      if (r === 'records') result = 'records';
    }
    return result;
  };

  const settle = (idleRound: number) => {
    for (const w of [...waiters]) {
      if (w.after < idleRound) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((res) => {
      const t = setTimeout(res, ms);
      wake = () => {
        clearTimeout(t);
        res();
      };
    });

  await refreshShards();
  const loop = (async () => {
    while (!stopping) {
      const n = ++roundsStarted;
      let result: RoundResult = 'waiting';
      try {
        result = await round();
        lastError = '';
      } catch (e) {
        const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        if (message !== lastError) log(`stream poller: ${message} (retrying)`);
        lastError = message;
      }
      if (result === 'idle') settle(n);
      if (result !== 'records' && !stopping) await sleep(lastError ? 1_000 : pollIntervalMs);
    }
  })();

  return {
    streamArn: arn,
    deadLetters,
    drain: ({ timeoutMs = 30_000 } = {}) =>
      new Promise<void>((resolve, reject) => {
        if (stopping) return reject(new Error('the stream poller is stopped'));
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`stream not drained after ${timeoutMs} ms${lastError ? `: ${lastError}` : ''}`));
        }, timeoutMs);
        const waiter = {
          after: roundsStarted,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiters.push(waiter);
      }),
    stop: async () => {
      if (stopping) return;
      stopping = true;
      wake();
      await loop;
      persist();
      streams.destroy();
      for (const w of waiters.splice(0)) w.reject(new Error('the stream poller stopped before the stream was drained'));
    },
  };
}

interface Entry {
  record: DynamoDBRecord;
  sequenceNumber: string;
  /** The sequence number of the record read just before this one (the checkpoint if this one fails). */
  previous: string | undefined;
}

function loadCheckpoint(file: string | undefined, streamArn: string, log: (line: string) => void): Checkpoint {
  const fresh: Checkpoint = { streamArn, shards: {} };
  if (!file || !existsSync(file)) return fresh;
  let parsed;
  try {
    parsed = Checkpoint.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) {
    log(`stream checkpoint ${file} is unreadable; reading the stream from its oldest record`);
    return fresh;
  }
  if (parsed.data.streamArn !== streamArn) {
    log(`the table's stream changed since the last run; reading the new stream from its oldest record`);
    return fresh;
  }
  return parsed.data;
}

/** A stream record as Lambda delivers it: JSON attribute values (binary as base64), creation time in seconds. */
export function toLambdaRecord(r: StreamRecord, streamArn: string, region: string): DynamoDBRecord {
  const d = r.dynamodb;
  return {
    ...(r.eventID !== undefined && { eventID: r.eventID }),
    ...(r.eventName !== undefined && { eventName: r.eventName }),
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    ...(d && {
      dynamodb: {
        ...(d.ApproximateCreationDateTime && {
          ApproximateCreationDateTime: Math.floor(d.ApproximateCreationDateTime.getTime() / 1000),
        }),
        ...(d.Keys && { Keys: toLambdaImage(d.Keys) }),
        ...(d.NewImage && { NewImage: toLambdaImage(d.NewImage) }),
        ...(d.OldImage && { OldImage: toLambdaImage(d.OldImage) }),
        ...(d.SequenceNumber !== undefined && { SequenceNumber: d.SequenceNumber }),
        ...(d.SizeBytes !== undefined && { SizeBytes: d.SizeBytes }),
        ...(d.StreamViewType !== undefined && { StreamViewType: d.StreamViewType }),
      },
    }),
    ...(r.userIdentity && { userIdentity: { type: r.userIdentity.Type, principalId: r.userIdentity.PrincipalId } }),
  };
}

function toLambdaImage(image: Record<string, StreamAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, toLambdaValue(v)]));
}

function toLambdaValue(v: StreamAttributeValue): AttributeValue {
  if (v.S !== undefined) return { S: v.S };
  if (v.N !== undefined) return { N: v.N };
  if (v.BOOL !== undefined) return { BOOL: v.BOOL };
  if (v.NULL !== undefined) return { NULL: v.NULL };
  if (v.B !== undefined) return { B: Buffer.from(v.B).toString('base64') };
  if (v.SS !== undefined) return { SS: v.SS };
  if (v.NS !== undefined) return { NS: v.NS };
  if (v.BS !== undefined) return { BS: v.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (v.L !== undefined) return { L: v.L.map(toLambdaValue) };
  if (v.M !== undefined) return { M: toLambdaImage(v.M) };
  // The streams client deserializes an empty map (`{"M":{}}`) to `{}`: no other attribute value can be empty.
  if (Object.keys(v).length === 0) return { M: {} };
  throw new Error(`unsupported attribute value with keys ${Object.keys(v).join(', ')}`);
}
