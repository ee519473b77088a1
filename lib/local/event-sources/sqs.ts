import type { SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import type { LocalQueues, QueueMessage } from '../adapters/queues.js';
import type { LocalQueueMapping } from '../deployment.js';
import type { LocalLambda } from '../lambda.js';

/**
 * An SQS event source mapping of the template, locally: receives up to `BatchSize` messages, invokes the function
 * with an `SQSEvent`, deletes what succeeded (all of it, or all but the `batchItemFailures` when the mapping reports
 * them), and leaves the rest to come back after the visibility timeout — so the queue's redrive policy, not this
 * poller, decides when a message is dead-lettered, as on AWS.
 */

const BatchResponse = z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) }).nullish();

export interface SqsEventSource {
  /** Resolves when the queue has no message left that could still be delivered (all deleted or dead-lettered). */
  drain(opts?: { timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export function startSqsEventSource(opts: {
  mapping: LocalQueueMapping;
  queues: LocalQueues;
  lambda: LocalLambda;
  region: string;
  log: (line: string) => void;
}): SqsEventSource {
  const { mapping, queues, lambda } = opts;
  const queue = queues.queues[mapping.queueLogicalId];
  if (!queue) throw new Error(`mapping ${mapping.logicalId}: no queue ${mapping.queueLogicalId}`);
  let stopped = false;
  let busy: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const idleWaiters: (() => void)[] = [];

  const toRecord = (m: QueueMessage) => ({
    messageId: m.messageId,
    receiptHandle: m.receiptHandle ?? '',
    body: m.body,
    attributes: {
      ApproximateReceiveCount: String(m.receiveCount),
      SentTimestamp: String(m.sentAt),
      SenderId: 'events.amazonaws.com',
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? m.sentAt),
    },
    messageAttributes: {},
    md5OfBody: m.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: opts.region,
  });

  const pending = () => queues.peek(mapping.queueLogicalId).length;

  const poll = async (): Promise<void> => {
    while (!stopped) {
      const batch = queues.receive(mapping.queueLogicalId, mapping.batchSize);
      if (batch.length === 0) break;
      const event: SQSEvent = { Records: batch.map(toRecord) };
      const result = await lambda.invoke(mapping.functionLogicalId, event);
      let failed = new Set<string>(batch.map((m) => m.messageId));
      if (result.ok) {
        const response = BatchResponse.safeParse(result.payload);
        if (!response.success) {
          opts.log(`sqs ${mapping.functionLogicalId}: invalid batch response; the whole batch is retried`);
        } else {
          failed = mapping.reportBatchItemFailures
            ? new Set((response.data?.batchItemFailures ?? []).map((f) => f.itemIdentifier))
            : new Set();
        }
      } else {
        opts.log(`sqs ${mapping.functionLogicalId} failed: ${result.errorType}: ${result.errorMessage}`);
      }
      for (const m of batch) {
        if (!failed.has(m.messageId)) queues.delete(mapping.queueLogicalId, m.receiptHandle ?? '');
      }
    }
    schedule();
    if (pending() === 0) for (const w of idleWaiters.splice(0)) w();
  };

  const kick = () => {
    if (stopped || busy) return;
    busy = poll().finally(() => {
      busy = undefined;
    });
  };

  /** Wakes up when the next invisible message becomes visible again. */
  const schedule = () => {
    if (timer) clearTimeout(timer);
    const at = queues.nextVisibleAt(mapping.queueLogicalId);
    if (at === undefined || stopped) return;
    timer = setTimeout(kick, Math.max(0, at - Date.now()) + 5);
    timer.unref();
  };

  const unsubscribe = queues.onChange(mapping.queueLogicalId, kick);
  kick();

  return {
    drain: ({ timeoutMs = 30_000 } = {}) =>
      new Promise<void>((resolve, reject) => {
        if (pending() === 0 && !busy) return resolve();
        const t = setTimeout(
          () => reject(new Error(`queue ${mapping.queueLogicalId} not drained in ${timeoutMs} ms`)),
          timeoutMs,
        );
        idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      }),
    stop: async () => {
      stopped = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      await busy;
    },
  };
}
