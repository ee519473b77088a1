import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { SweepCounts } from '../../lambdas/domain/sweep.js';
import { nextScheduleAt } from '../../lib/local/event-sources/scheduler.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * The template's requalification schedule in the local stack, on a scaled clock (one simulated day = 4 real seconds):
 * EventBridge Scheduler's cron fires "Requalify leads" as of the scheduled instant; POST /_local/sweep runs one now.
 */

const DAY_SECONDS = 4;

let stack: LocalStack;
let client: DynamoDBClient;
let repo: DynamoLeadRepository;
const logs: string[] = [];

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    daySeconds: DAY_SECONDS,
    log: (l) => logs.push(l),
  });
  client = new DynamoDBClient({
    endpoint: stack.dynamoDbEndpoint,
    region: stack.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  repo = new DynamoLeadRepository(
    DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    stack.tableName,
  );
}, 120_000);

afterAll(async () => {
  client?.destroy();
  await stack?.stop();
});

/** A lead whose last activity was `days` simulated days ago, stored as scoring leaves it. */
async function leadSilentFor(days: number): Promise<Lead> {
  const at = new Date(stack.clock.now().getTime() - days * DAY_MS);
  const lead = newLead(ulid(at.getTime()), `${ulid().toLowerCase()}@acme-builders.com`, at);
  await repo.createLead(lead);
  const iso = at.toISOString();
  const scored = applyEvents(
    lead,
    [
      {
        eventId: ulid(),
        leadId: lead.leadId,
        type: 'form_submitted',
        occurredAt: iso,
        receivedAt: iso,
        source: 'form',
        properties: { jobTitle: 'CTO' },
      },
    ],
    defaultModel,
    at,
  ).lead;
  await repo.commitScoring({ ...scored, version: 1 }, [], []);
  return scored;
}

const Summary = z.object({ asOf: z.string(), failed: z.number(), counts: SweepCounts });

describe('the requalification schedule, run locally from the template', () => {
  it('reads the schedule the stack deploys: daily at 03:00 UTC, as of the scheduled time', () => {
    expect(stack.deployment.schedules).toEqual([
      expect.objectContaining({ expression: 'cron(0 3 * * ? *)', input: '{"asOf":"<aws.scheduler.scheduled-time>"}' }),
    ]);
    expect(nextScheduleAt('cron(0 3 * * ? *)', new Date('2026-03-02T02:59:59.999Z')).toISOString()).toBe(
      '2026-03-02T03:00:00.000Z',
    );
  });

  it('sweeps on schedule as of the scheduled simulated time: a silent lead becomes dormant', async () => {
    // Arrange
    const silent = await leadSilentFor(100);
    const active = await leadSilentFor(3);

    // Act: within one simulated day (4 s) the 03:00 tick comes; the run's input names the scheduled instant.
    const deadline = Date.now() + 45_000;
    const done = () =>
      stack.stepFunctions.list().find((r) => r.stateMachineArn === stack.requalificationArn && r.status !== 'RUNNING');
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    // Assert
    const run = done();
    if (!run) throw new Error('no scheduled sweep ran');
    expect(run.status).toBe('SUCCEEDED');
    expect(JSON.parse(run.input)).toEqual({ asOf: expect.stringMatching(/T03:00:00Z$/) });
    expect((await repo.getLead(silent.leadId))?.stage).toBe('dormant');
    expect((await repo.getLead(active.leadId))?.stage).toBe(active.stage);
  });

  it('runs one now on POST /_local/sweep, as of a given instant, and refuses a bad body', async () => {
    const lead = await leadSilentFor(200);
    const res = await fetch(`${stack.url}/_local/sweep`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(200);
    const summary = Summary.parse(await res.json());
    expect(summary.failed).toBe(0);
    expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');

    const bad = await fetch(`${stack.url}/_local/sweep`, { method: 'POST', body: '{"asOf": "tomorrow"}' });
    expect(bad.status).toBe(400);
  });
});
