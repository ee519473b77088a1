import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterMessage, DeadLetterQueue } from '../domain/redrive.js';

/** What SQS takes at most per ReceiveMessage and per DeleteMessageBatch. */
const SQS_BATCH = 10;

/** Some messages of a `remove` were not deleted: which entries (their index in the handles given), and why. */
export class DeadLetterDeleteError extends Error {
  override readonly name = 'DeadLetterDeleteError';
  constructor(
    readonly failed: readonly { id: string; code: string }[],
    total: number,
  ) {
    super(
      `${failed.length} of ${total} DLQ message(s) not deleted: ` +
        failed.map((f) => `entry ${f.id} (${f.code})`).join(', '),
    );
  }
}

/**
 * An SQS queue as the scoring DLQ {@link DeadLetterQueue} of `leadloop redrive`. `receiveAll` receives until SQS
 * answers nothing: with a one-second wait an empty answer means an empty queue (a short poll may miss messages), and
 * every message received stays invisible for `visibilityTimeoutSeconds`, long enough for the redrive to score the
 * leads and delete it, so none is received twice.
 */
export function sqsDeadLetterQueue(
  sqs: SQSClient,
  queueUrl: string,
  opts: { visibilityTimeoutSeconds?: number } = {},
): DeadLetterQueue {
  const visibilityTimeoutSeconds = opts.visibilityTimeoutSeconds ?? 900;
  return {
    receiveAll: async () => {
      const all: DeadLetterMessage[] = [];
      for (;;) {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: SQS_BATCH,
            WaitTimeSeconds: 1,
            VisibilityTimeout: visibilityTimeoutSeconds,
          }),
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) return all;
        for (const m of messages) {
          if (!m.ReceiptHandle) throw new Error(`SQS returned message ${m.MessageId ?? '?'} without a receipt handle`);
          all.push({ handle: m.ReceiptHandle, body: m.Body ?? '' });
        }
      }
    },
    remove: async (handles) => {
      const failed: { id: string; code: string }[] = [];
      for (let start = 0; start < handles.length; start += SQS_BATCH) {
        const out = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: handles
              .slice(start, start + SQS_BATCH)
              .map((handle, i) => ({ Id: String(start + i), ReceiptHandle: handle })),
          }),
        );
        for (const f of out.Failed ?? []) failed.push({ id: f.Id ?? '?', code: f.Code ?? 'unknown' });
      }
      if (failed.length > 0) throw new DeadLetterDeleteError(failed, handles.length);
    },
  };
}
