import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { redrive } from '../../bin/commands/redrive.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * `leadloop redrive` against the local stack: `POST /_local/redrive` re-scores and empties the scoring DLQ, and the
 * CLI's `--endpoint … --dlq <url>` does both from its own process, reaching the DLQ through the stack's SQS API.
 */
let stack: LocalStack;
let client: DynamoDBClient;
let repo: DynamoLeadRepository;
/** The scoring DLQ's logical id: the on-failure destination of the score-stream function's stream mapping. */
let dlq: string;

/** A Lambda on-failure record of a stream batch, as the scoring DLQ holds them (a pointer into the stream). */
const streamFailure = () => JSON.stringify({ DDBStreamBatchInfo: { shardId: 's', startSequenceNumber: '1' } });

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    pollIntervalMs: 50,
    logMode: 'json',
    log: () => undefined,
  });
  dlq =
    stack.deployment.streamMappings.find((m) => m.functionLogicalId === stack.functionIds['score-stream'])
      ?.onFailureQueue ?? '';
  client = new DynamoDBClient({
    endpoint: stack.dynamoDbEndpoint,
    region: stack.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  repo = new DynamoLeadRepository(DynamoDBDocumentClient.from(client), stack.tableName);
});

afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

describe('POST /_local/redrive', () => {
  it("deletes the scoring DLQ's messages once every lead with unapplied events is scored", async () => {
    stack.queues.send(dlq, streamFailure());

    const res = await fetch(`${stack.url}/_local/redrive`, { method: 'POST' });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ messages: 1, deleted: 1, failed: [] });
    expect(stack.queues.peek(dlq)).toHaveLength(0);
  });
});

describe('leadloop redrive --endpoint <url> --dlq <queue-url>', () => {
  it('applies the unapplied event in the CLI, then empties the DLQ through the local SQS API', async () => {
    // With the stream's pollers stopped the event's record is never scored, as when it went to the DLQ.
    await stack.poller.stop();
    const email = `redrive-dlq-${Date.now()}@example.com`;
    const posted = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
      body: JSON.stringify({ events: [{ email, type: 'pricing_page_viewed' }] }),
    });
    const leadId = (await repo.findLeadIdByEmail(email)) ?? '';
    const pending = (await repo.allLeadsWithPendingEvents(new Date(Date.now() + 60_000))).get(leadId) ?? [];
    stack.queues.send(dlq, streamFailure());
    const dlqUrl = stack.deployment.queues[dlq]?.url ?? '';
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const previous = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = stack.awsEndpoint;
    let code: number;
    try {
      code = await redrive(['--endpoint', stack.dynamoDbEndpoint, '--table', stack.tableName, '--dlq', dlqUrl]);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
      else process.env.AWS_ENDPOINT_URL_SQS = previous;
      log.mockRestore();
    }

    expect(posted.status).toBe(202);
    expect(pending).toHaveLength(1);
    expect(code).toBe(0);
    expect(out.join('\n')).toContain('Redrive: 1 lead(s) with unapplied events, 1 event(s) applied');
    expect(out.join('\n')).toContain('DLQ: 1 message(s), 1 deleted');
    expect((await repo.loadPending(leadId, pending)).pending).toEqual([]);
    expect((await repo.getLead(leadId))?.scores?.contributions.map((c) => c.eventId)).toEqual(
      expect.arrayContaining(pending),
    );
    expect(stack.queues.peek(dlq)).toHaveLength(0);
  });

  it('exits 2 on a --dlq without --endpoint, one that is no URL, and one naming no queue', async () => {
    const errors: string[] = [];
    const error = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void errors.push(String(s)));
    const previous = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = stack.awsEndpoint;
    const direct = ['--endpoint', stack.dynamoDbEndpoint, '--table', stack.tableName];
    let codes: number[];
    try {
      codes = [
        await redrive(['--dlq', 'http://sqs.us-east-1.localhost/000000000000/q']),
        await redrive([...direct, '--dlq', 'ScoringDeadLetterQueue']),
        await redrive([...direct, '--dlq', 'http://sqs.us-east-1.localhost/000000000000/NoSuchQueue']),
      ];
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
      else process.env.AWS_ENDPOINT_URL_SQS = previous;
      error.mockRestore();
    }

    expect(codes).toEqual([2, 2, 2]);
    expect(errors[0]).toContain('--dlq goes with --endpoint');
    expect(errors[1]).toContain('--dlq must be a queue URL');
    expect(errors[2]).toContain('--dlq: SQS knows no queue http://sqs.us-east-1.localhost/000000000000/NoSuchQueue');
  });
});
