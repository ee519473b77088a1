import * as z from 'zod';
import { AwsApiError, type LocalAwsService } from '../aws-endpoint.js';
import type { LocalQueue } from '../deployment.js';
import type { LocalQueues, QueueMessage } from './queues.js';

/**
 * SQS, locally, over the template's queues ({@link LocalQueues}): `ReceiveMessage` (long polling included),
 * `SendMessage`, `DeleteMessage`, `DeleteMessageBatch`, `GetQueueAttributes`, `GetQueueUrl` and `ListQueues`, in the
 * AWS JSON 1.0 protocol that SDK v3 and the AWS CLI speak to SQS, so that a program outside the stack (`leadloop
 * redrive --dlq`) reaches the local queues with its SQS client unchanged, through `AWS_ENDPOINT_URL_SQS`.
 *
 * A queue is named by its URL: what the template's `Ref` of it resolves to locally
 * (`http://sqs.<region>.localhost/<account>/<logicalId>`, see intrinsics.ts). As on AWS, the path is what names it, so
 * the same path under another host (the endpoint's own) names it too. Errors have SQS's JSON shape:
 * `__type: com.amazonaws.sqs#QueueDoesNotExist` and the Query API's code in `x-amzn-query-error`.
 */

const QueueUrl = z.string().min(1);
/** Local receipt handles are UUIDs; anything else is malformed (a stale but well-formed one deletes nothing). */
const RECEIPT_HANDLE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

const ReceiveMessage = z.object({
  QueueUrl,
  MaxNumberOfMessages: z.number().int().min(1).max(10).default(1),
  VisibilityTimeout: z.number().int().min(0).max(43_200).optional(),
  WaitTimeSeconds: z.number().int().min(0).max(20).default(0),
  AttributeNames: z.array(z.string()).default([]),
  MessageSystemAttributeNames: z.array(z.string()).default([]),
  MessageAttributeNames: z.array(z.string()).default([]),
});
const SendMessage = z.object({
  QueueUrl,
  MessageBody: z.string().min(1),
  DelaySeconds: z.literal(0).optional(),
  MessageAttributes: z.record(z.string(), z.object({ DataType: z.string(), StringValue: z.string() })).optional(),
});
const DeleteMessage = z.object({ QueueUrl, ReceiptHandle: z.string() });
const DeleteMessageBatch = z.object({
  QueueUrl,
  Entries: z.array(z.object({ Id: z.string(), ReceiptHandle: z.string() })),
});
const GetQueueAttributes = z.object({ QueueUrl, AttributeNames: z.array(z.string()).default([]) });

const sender = (code: string) => `${code};Sender`;
const noSuchQueue = () =>
  new AwsApiError(
    'QueueDoesNotExist',
    'The specified queue does not exist.',
    400,
    sender('AWS.SimpleQueueService.NonExistentQueue'),
  );
const invalidHandle = (handle: string) =>
  new AwsApiError(
    'ReceiptHandleIsInvalid',
    `The input receipt handle "${handle}" is not a valid receipt handle.`,
    404,
    sender('ReceiptHandleIsInvalid'),
  );

/** The SQS API over the stack's queues, for the local AWS endpoint. */
export function sqsService(queues: LocalQueues): LocalAwsService {
  const find = (url: string): LocalQueue => {
    const path = pathOf(url);
    const queue = Object.values(queues.queues).find((q) => q.url === url || (path && pathOf(q.url) === path));
    if (!queue) throw noSuchQueue();
    return queue;
  };

  const receive = async (req: z.infer<typeof ReceiveMessage>): Promise<QueueMessage[]> => {
    const id = find(req.QueueUrl).logicalId;
    const deadline = Date.now() + req.WaitTimeSeconds * 1000;
    for (;;) {
      const got = queues.receive(id, req.MaxNumberOfMessages, req.VisibilityTimeout);
      const now = Date.now();
      if (got.length > 0 || now >= deadline) return got;
      // Long polling: answer as soon as a message arrives or an invisible one becomes visible again.
      await changeOrTimeout(queues, id, Math.min(deadline, queues.nextVisibleAt(id) ?? deadline) - now);
    }
  };

  return {
    targetPrefix: 'AmazonSQS.',
    protocol: '1.0',
    errorPrefix: 'com.amazonaws.sqs#',
    handle: async (operation, body) => {
      switch (operation) {
        case 'ReceiveMessage': {
          const req = ReceiveMessage.parse(body);
          const system = new Set([...req.AttributeNames, ...req.MessageSystemAttributeNames]);
          const messages = await receive(req);
          return { Messages: messages.map((m) => toMessage(m, system, req.MessageAttributeNames)) };
        }
        case 'SendMessage': {
          const req = SendMessage.parse(body);
          const attributes = req.MessageAttributes
            ? Object.fromEntries(Object.entries(req.MessageAttributes).map(([k, v]) => [k, v.StringValue]))
            : undefined;
          const sent = queues.send(find(req.QueueUrl).logicalId, req.MessageBody, attributes);
          return { MessageId: sent.messageId, MD5OfMessageBody: sent.md5OfBody };
        }
        case 'DeleteMessage': {
          const req = DeleteMessage.parse(body);
          const id = find(req.QueueUrl).logicalId;
          if (!RECEIPT_HANDLE.test(req.ReceiptHandle)) throw invalidHandle(req.ReceiptHandle);
          queues.delete(id, req.ReceiptHandle);
          return {};
        }
        case 'DeleteMessageBatch': {
          const req = DeleteMessageBatch.parse(body);
          const id = find(req.QueueUrl).logicalId;
          checkBatch(req.Entries.map((e) => e.Id));
          const failed: { Id: string; SenderFault: boolean; Code: string; Message: string }[] = [];
          const successful: { Id: string }[] = [];
          for (const entry of req.Entries) {
            if (!RECEIPT_HANDLE.test(entry.ReceiptHandle)) {
              const error = invalidHandle(entry.ReceiptHandle);
              failed.push({ Id: entry.Id, SenderFault: true, Code: error.type, Message: error.message });
              continue;
            }
            queues.delete(id, entry.ReceiptHandle);
            successful.push({ Id: entry.Id });
          }
          return { Successful: successful, Failed: failed };
        }
        case 'GetQueueAttributes': {
          const req = GetQueueAttributes.parse(body);
          const queue = find(req.QueueUrl);
          const now = Date.now();
          const held = queues.peek(queue.logicalId);
          const all: Record<string, string> = {
            ApproximateNumberOfMessages: String(held.filter((m) => m.invisibleUntil <= now).length),
            ApproximateNumberOfMessagesNotVisible: String(held.filter((m) => m.invisibleUntil > now).length),
            ApproximateNumberOfMessagesDelayed: '0',
            QueueArn: queue.arn,
            VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
            ...(queue.deadLetterQueue !== undefined &&
              queue.maxReceiveCount !== undefined && {
                RedrivePolicy: JSON.stringify({
                  deadLetterTargetArn: queues.queues[queue.deadLetterQueue]?.arn ?? queue.deadLetterQueue,
                  maxReceiveCount: queue.maxReceiveCount,
                }),
              }),
          };
          const names = req.AttributeNames.includes('All') ? Object.keys(all) : req.AttributeNames;
          return { Attributes: Object.fromEntries(names.flatMap((n) => (all[n] === undefined ? [] : [[n, all[n]]]))) };
        }
        case 'GetQueueUrl': {
          const name = z.object({ QueueName: z.string() }).parse(body).QueueName;
          const queue = Object.values(queues.queues).find((q) => q.name === name);
          if (!queue) throw noSuchQueue();
          return { QueueUrl: queue.url };
        }
        case 'ListQueues': {
          const prefix = z.object({ QueueNamePrefix: z.string().default('') }).parse(body).QueueNamePrefix;
          return {
            QueueUrls: Object.values(queues.queues)
              .filter((q) => q.name.startsWith(prefix))
              .map((q) => q.url),
          };
        }
        default:
          throw new AwsApiError(
            'UnsupportedOperation',
            `operation ${operation} is not supported locally`,
            400,
            sender('AWS.SimpleQueueService.UnsupportedOperation'),
          );
      }
    },
  };
}

/** A queue URL's path (`/<account>/<name>`), if it is a URL. */
function pathOf(url: string): string | undefined {
  try {
    return new URL(url).pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/** SQS's checks of a batch's entry ids: 1 to 10 of them, distinct, each 1–80 letters, digits, `-` or `_`. */
function checkBatch(ids: readonly string[]): void {
  if (ids.length === 0) {
    throw new AwsApiError(
      'EmptyBatchRequest',
      'There should be at least one entry in the request.',
      400,
      sender('AWS.SimpleQueueService.EmptyBatchRequest'),
    );
  }
  if (ids.length > 10) {
    throw new AwsApiError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are 10. You have sent ${ids.length}.`,
      400,
      sender('AWS.SimpleQueueService.TooManyEntriesInBatchRequest'),
    );
  }
  if (new Set(ids).size !== ids.length) {
    throw new AwsApiError(
      'BatchEntryIdsNotDistinct',
      'Two or more batch entries in the request have the same Id.',
      400,
      sender('AWS.SimpleQueueService.BatchEntryIdsNotDistinct'),
    );
  }
  const bad = ids.find((id) => !BATCH_ENTRY_ID.test(id));
  if (bad !== undefined) {
    throw new AwsApiError(
      'InvalidBatchEntryId',
      `A batch entry id can only contain alphanumeric characters, hyphens and underscores (got "${bad}").`,
      400,
      sender('AWS.SimpleQueueService.InvalidBatchEntryId'),
    );
  }
}

/** A received message as ReceiveMessage returns it, with the system and message attributes asked for. */
function toMessage(m: QueueMessage, system: ReadonlySet<string>, messageAttributeNames: readonly string[]) {
  const systemValues: Record<string, string> = {
    ApproximateReceiveCount: String(m.receiveCount),
    SentTimestamp: String(m.sentAt),
    ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? m.sentAt),
  };
  const attributes = Object.entries(systemValues).filter(([k]) => system.has('All') || system.has(k));
  const wantsAll = messageAttributeNames.some((n) => n === 'All' || n === '.*');
  const messageAttributes = Object.entries(m.attributes ?? {}).filter(
    ([k]) => wantsAll || messageAttributeNames.includes(k),
  );
  return {
    MessageId: m.messageId,
    ReceiptHandle: m.receiptHandle ?? '',
    MD5OfBody: m.md5OfBody,
    Body: m.body,
    ...(attributes.length > 0 && { Attributes: Object.fromEntries(attributes) }),
    ...(messageAttributes.length > 0 && {
      MessageAttributes: Object.fromEntries(
        messageAttributes.map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
      ),
    }),
  };
}

/** Resolves when the queue's messages change or after `ms`, whichever comes first. */
function changeOrTimeout(queues: LocalQueues, queueId: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop();
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    timer.unref();
    const stop = queues.onChange(queueId, done);
  });
}
