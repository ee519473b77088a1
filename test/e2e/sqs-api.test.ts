import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterDeleteError, sqsDeadLetterQueue } from '../../lambdas/adapters/sqs-dead-letter-queue.js';
import { LocalQueues } from '../../lib/local/adapters/queues.js';
import { sqsService } from '../../lib/local/adapters/sqs-api.js';
import { startLocalAwsEndpoint, type LocalAwsEndpoint } from '../../lib/local/aws-endpoint.js';
import { testDeployment } from '../support/deployment.js';

/**
 * The local SQS API (what `npm start` serves on SFN_PORT beside Step Functions, EventBridge and Secrets Manager) through
 * the SDK's SQS client, and the scoring DLQ adapter of `leadloop redrive --dlq` over it.
 */
const deployment = testDeployment('sqs-api-test');
const dlqId =
  deployment.streamMappings.find((m) => deployment.functions[m.functionLogicalId]?.handler.includes('score-stream'))
    ?.onFailureQueue ?? '';
const dlqUrl = deployment.queues[dlqId]?.url ?? '';

let queues: LocalQueues;
let endpoint: LocalAwsEndpoint;
let sqs: SQSClient;

beforeAll(async () => {
  queues = new LocalQueues(deployment.queues);
  endpoint = await startLocalAwsEndpoint({ services: [sqsService(queues)], port: 0 });
  sqs = new SQSClient({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await endpoint?.close();
});

const send = async (body: string) => sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: body }));
const counts = async () =>
  (
    await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    )
  ).Attributes;

describe('the scoring DLQ through the local SQS API', () => {
  it("names the DLQ by the URL the template's Ref of it resolves to locally, and lists it", async () => {
    const byName = await sqs.send(new GetQueueUrlCommand({ QueueName: dlqId }));
    const listed = await sqs.send(new ListQueuesCommand({}));

    expect(dlqUrl).toBe(`http://sqs.us-east-1.localhost/000000000000/${dlqId}`);
    expect(byName.QueueUrl).toBe(dlqUrl);
    expect(listed.QueueUrls).toContain(dlqUrl);
  });

  it('receives every message once (in batches of ten, kept invisible), then deletes them all', async () => {
    const bodies = Array.from({ length: 23 }, (_, i) => JSON.stringify({ n: i }));
    for (const body of bodies) await send(body);
    const dlq = sqsDeadLetterQueue(sqs, dlqUrl);

    const received = await dlq.receiveAll();
    const inFlight = await counts();
    const hiddenFor = (queues.nextVisibleAt(dlqId) ?? 0) - Date.now();
    await dlq.remove(received.map((m) => m.handle));

    expect(received.map((m) => m.body).sort()).toEqual([...bodies].sort());
    expect(new Set(received.map((m) => m.handle)).size).toBe(23);
    expect(inFlight).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '23' });
    // The redrive's visibility timeout (900 s), not the queue's own (30 s).
    expect(hiddenFor).toBeGreaterThan(800_000);
    expect(queues.peek(dlqId)).toHaveLength(0);
    expect(await counts()).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  it('deletes what it can and throws naming the entries SQS refused', async () => {
    await send('kept-apart');
    const dlq = sqsDeadLetterQueue(sqs, dlqUrl);
    const [message] = await dlq.receiveAll();

    const removed = dlq.remove(['not-a-receipt-handle', message?.handle ?? '']);

    await expect(removed).rejects.toThrow(DeadLetterDeleteError);
    await expect(removed).rejects.toThrow('1 of 2 DLQ message(s) not deleted: entry 0 (ReceiptHandleIsInvalid)');
    expect(queues.peek(dlqId)).toHaveLength(0);
  });

  it('answers a long poll as soon as a message arrives', async () => {
    const started = Date.now();
    const polled = sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 10 }));
    setTimeout(() => queues.send(dlqId, 'late'), 300);

    const out = await polled;

    expect(out.Messages?.map((m) => m.Body)).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(5_000);
    queues.delete(dlqId, out.Messages?.[0]?.ReceiptHandle ?? '');
  });

  it("answers for a queue the template doesn't have as SQS does (QueueDoesNotExist)", async () => {
    const receive = sqs.send(
      new ReceiveMessageCommand({ QueueUrl: 'http://sqs.us-east-1.localhost/000000000000/NoSuchQueue' }),
    );

    await expect(receive).rejects.toBeInstanceOf(QueueDoesNotExist);
    await expect(receive).rejects.toMatchObject({ Code: 'AWS.SimpleQueueService.NonExistentQueue' });
  });
});
