import { createServer, type Server } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import aslValidator from 'asl-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { keys, reviewShardOf, TABLE } from '../../lambdas/adapters/table-definition.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../lambdas/domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { enrollmentDecision, withEnrollment } from '../../lambdas/domain/nurture/enrollment.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';
import { SWEEP_STATES } from '../../lib/requalification.js';
import {
  runSweep,
  SweepExecutionError,
  synthesizeSweepMachine,
  type SweepMachine,
} from '../../lib/local/requalification.js';

/**
 * "Requalify leads" as synthesized from the Requalification construct, run by aws-local-stepfunctions with its tasks
 * bound to the real handler modules, against DynamoDB Local and a recording Step Functions endpoint for nurture.
 */

const tracks = DEFAULT_NURTURE_PLAN.tracks;
const IDEAL = { jobTitle: 'VP Operations', companySize: '201-1000', industry: 'Construction' };
const NOW = Date.now();
/** `n` days before the test started. */
const daysAgo = (n: number): Date => new Date(NOW - n * DAY_MS);

/** Step Functions' StartExecution/StopExecution, recorded (the nurture state machines themselves are not under test). */
const sfnCalls: { action: string; body: unknown }[] = [];
let sfn: Server;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let repo: DynamoLeadRepository;
let machine: SweepMachine;

beforeAll(async () => {
  const endpoint = process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('DynamoDB Local is not running: run through vitest (globalSetup)');
  client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const table = `requalify-flow-${ulid().toLowerCase()}`;
  await ensureTable(client, table);
  repo = new DynamoLeadRepository(doc, table);

  const port = await freePort();
  sfn = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const action = String(req.headers['x-amz-target'] ?? '').replace('AWSStepFunctions.', '');
      sfnCalls.push({ action, body: JSON.parse(body || '{}') });
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      const now = Date.now() / 1000;
      res.end(
        JSON.stringify(
          action === 'StartExecution'
            ? { executionArn: 'arn:aws:states:::execution:x', startDate: now }
            : { stopDate: now },
        ),
      );
    });
  });
  await new Promise<void>((r) => sfn.listen(port, '127.0.0.1', r));

  // What the handler modules read at import (they are imported by the runner, in this process).
  Object.assign(process.env, {
    TABLE_NAME: table,
    SFN_ENDPOINT: `http://127.0.0.1:${port}`,
    NURTURE_STATE_MACHINES: JSON.stringify(
      Object.fromEntries(
        tracks.map((t) => [t.id, `arn:aws:states:us-east-1:000000000000:stateMachine:leadloop-${t.id}`]),
      ),
    ),
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  machine = synthesizeSweepMachine({ region: 'us-east-1' });
}, 120_000);

afterAll(async () => {
  client.destroy();
  await new Promise<void>((r) => sfn.close(() => r()));
});

/** Stores a mailable lead scored by the model from `events` (each `[daysAgo, type, properties]`). */
async function storeLead(
  events: [number, LeadEvent['type'], LeadEvent['properties']?][],
  opts: { leadId?: string; then?: (lead: Lead) => Lead } = {},
): Promise<Lead> {
  const first = daysAgo(events[0]?.[0] ?? 0);
  const leadId = opts.leadId ?? ulid(first.getTime());
  const created = newLead(leadId, `${leadId.toLowerCase()}@acme-builders.com`, first);
  await repo.createLead({ ...created, consent: { marketing: true, at: created.createdAt, source: 'form' } });
  let lead: Lead = { ...created, consent: { marketing: true, at: created.createdAt, source: 'form' } };
  for (const [ago, type, properties] of events) {
    const at = daysAgo(ago).toISOString();
    lead = applyEvents(
      lead,
      [{ eventId: ulid(), leadId, type, occurredAt: at, receivedAt: at, source: 'api', properties: properties ?? {} }],
      defaultModel,
      daysAgo(ago),
    ).lead;
  }
  const final = opts.then ? opts.then(lead) : lead;
  await repo.commitScoring({ ...final, version: 1 }, [], []);
  const stored = await repo.getLead(leadId);
  if (!stored) throw new Error('not stored');
  return stored;
}

const leadIdInShard = (shard: number, at: Date): string => {
  for (;;) {
    const id = ulid(at.getTime());
    if (reviewShardOf(id) === shard) return id;
  }
};

describe('the synthesized "Requalify leads" state machine, run locally', () => {
  it('is valid Amazon States Language, with its two Lambda tasks bound to the handler modules', () => {
    const result = aslValidator(structuredClone(machine.definition), { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
    expect(Object.keys(machine.tasks).sort()).toEqual([SWEEP_STATES.summarize, SWEEP_STATES.sweepShard].sort());
    expect(
      Object.values(machine.functions)
        .map((f) => f.handler)
        .sort(),
    ).toEqual(['requalify-shard', 'requalify-summary']);
    expect(machine.definition.StartAt).toBe(SWEEP_STATES.asOfGiven);
  });

  it('sweeps every shard end to end: dormancy with nurture stopped, cool-off requalification with enrollment, a summary', async () => {
    // Arrange: 18 silent leads (3 of them in shard 7), one enrolled, one unresponsive past its cool-off, two active.
    const silent: Lead[] = [];
    for (let i = 0; i < 18; i++) {
      const leadId = i < 3 ? leadIdInShard(7, daysAgo(100)) : undefined;
      silent.push(
        await storeLead([[100 + i, 'form_submitted', { formId: 'ebook', ...IDEAL }]], leadId ? { leadId } : {}),
      );
    }
    const enrolled = await storeLead([[100, 'form_submitted', { formId: 'ebook', ...IDEAL }]], {
      then: (lead) => withEnrollment(lead, enrollmentDecision(undefined, lead, tracks), daysAgo(100)),
    });
    const unresponsive = await storeLead(
      [
        [200, 'form_submitted', { formId: 'ebook', ...IDEAL }],
        [100, 'page_viewed'],
      ],
      { then: (lead) => markUnresponsive(lead, defaultModel, daysAgo(95)).lead },
    );
    const active = [
      await storeLead([[5, 'form_submitted', { formId: 'ebook', ...IDEAL }]]),
      await storeLead([[30, 'form_submitted', { formId: 'ebook', ...IDEAL }]]),
    ];
    sfnCalls.length = 0;

    // Act
    const { summary, invocations } = await runSweep({ machine, asOf: new Date(NOW), retryIntervalMs: 0 });

    // Assert
    expect(summary).toMatchObject({ shards: TABLE.reviewShards, failed: 0, failedShards: [] });
    expect(summary.counts).toMatchObject({ reviewed: 20, changed: 20, skipped: 0, itemsRead: 20, actionFailures: 0 });
    expect(summary.counts.transitions).toEqual({ 'lead->dormant': 19, 'disqualified->lead': 1 });
    expect(summary.counts.actions).toEqual({ stop_nurture: 1, enroll: 1 });
    expect(summary.itemsReadPerLead).toBe(1);
    expect(invocations[SWEEP_STATES.summarize]).toBe(1);
    expect(invocations[SWEEP_STATES.sweepShard]).toBe(TABLE.reviewShards);

    for (const lead of [...silent, enrolled]) expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');
    expect((await repo.getLead(unresponsive.leadId))?.stage).toBe('lead');
    for (const lead of active) expect(await repo.getLead(lead.leadId)).toEqual(lead);

    expect(sfnCalls.map((c) => c.action).sort()).toEqual(['StartExecution', 'StopExecution']);
    expect(sfnCalls.find((c) => c.action === 'StopExecution')?.body).toMatchObject({
      executionArn: expect.stringContaining(
        `:execution:leadloop-${enrolled.nurture?.track}:${enrolled.nurture?.executionName}`,
      ),
    });
    expect(sfnCalls.find((c) => c.action === 'StartExecution')?.body).toMatchObject({
      name: (await repo.getLead(unresponsive.leadId))?.nurture?.executionName,
    });
  });

  it('loops "Sweep shard" while a shard is not done, resuming from the cursor without skipping or repeating a lead', async () => {
    // Arrange: 4 due leads in shard 3 and 2 in shard 11.
    const due = [
      ...(await Promise.all(
        [0, 1, 2, 3].map((i) =>
          storeLead([[120 + i, 'form_submitted', { formId: 'ebook', ...IDEAL }]], {
            leadId: leadIdInShard(3, daysAgo(120 + i)),
          }),
        ),
      )),
      ...(await Promise.all(
        [0, 1].map((i) =>
          storeLead([[130 + i, 'form_submitted', { formId: 'ebook', ...IDEAL }]], {
            leadId: leadIdInShard(11, daysAgo(130 + i)),
          }),
        ),
      )),
    ];

    // Act: the sweep function's timeout equals its reserve (5 s), so each invocation has time for its first lead only.
    const { summary, invocations } = await runSweep({
      machine,
      asOf: new Date(NOW + 1),
      retryIntervalMs: 0,
      timeoutMs: { 'requalify-shard': 5_000 },
    });

    // Assert: shard 3 took 4 invocations, shard 11 two, every other shard one; each lead written once.
    expect(invocations[SWEEP_STATES.sweepShard]).toBe(TABLE.reviewShards - 2 + 4 + 2);
    expect(summary.counts).toMatchObject({ reviewed: 6, invocations: TABLE.reviewShards - 2 + 4 + 2 });
    expect(summary.counts.transitions).toEqual({ 'lead->dormant': 6 });
    for (const lead of due) {
      const after = await repo.getLead(lead.leadId);
      expect(after?.version).toBe(lead.version + 1);
      expect((await repo.stageHistory(lead.leadId)).filter((t) => t.to === 'dormant')).toHaveLength(1);
    }
  });

  it('catches a shard that keeps failing after its retries, summarizes the others, and fails the run', async () => {
    // Arrange: an item in shard 13 of the review index that is not a lead, and a due lead in shard 2.
    await doc.send(
      new PutCommand({
        TableName: repo.tableName,
        Item: {
          ...keys.lead('broken'),
          [TABLE.reviewIndex.partitionKey]: keys.reviewShard(13),
          [TABLE.reviewIndex.sortKey]: `${daysAgo(1).toISOString()}#broken`,
        },
      }),
    );
    const lead = await storeLead([[150, 'form_submitted', { formId: 'ebook', ...IDEAL }]], {
      leadId: leadIdInShard(2, daysAgo(150)),
    });

    // Act
    const run = runSweep({ machine, asOf: new Date(NOW + 2), retryIntervalMs: 0 });

    // Assert
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SweepExecutionError);
    const summary = error instanceof SweepExecutionError ? error.summary : undefined;
    expect(summary).toMatchObject({ failed: 1, failedShards: [13] });
    expect(summary?.counts.reviewed).toBe(1);
    expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');
  });
});
