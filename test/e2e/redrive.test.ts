import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/** `leadloop redrive` against the running local stack: `POST /_local/redrive` re-scores and empties the scoring DLQ. */
let stack: LocalStack;

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
});

afterAll(async () => {
  await stack?.stop();
});

describe('POST /_local/redrive', () => {
  it("deletes the scoring DLQ's messages once every lead with unapplied events is scored", async () => {
    const dlq = stack.deployment.streamMappings.find((m) => m.onFailureQueue)?.onFailureQueue ?? '';
    stack.queues.send(dlq, JSON.stringify({ DDBStreamBatchInfo: { shardId: 's', startSequenceNumber: '1' } }));

    const res = await fetch(`${stack.url}/_local/redrive`, { method: 'POST' });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ messages: 1, deleted: 1, failed: [] });
    expect(stack.queues.peek(dlq)).toHaveLength(0);
  });
});
