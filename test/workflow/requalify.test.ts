import { createServer, type Server } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import aslValidator from 'asl-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { keys, reviewShardOf, TABLE } from '../../lambdas/adapters/table-definition.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { markUnresponsive } from '../../lambdas/domain/lifecycle.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { enrollmentDecision, withEnrollment } from '../../lambdas/domain/nurture/enrollment.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { SweepCounts, type SweepSummary } from '../../lambdas/domain/sweep.js';
import type { LocalDeployment, LocalStateMachine } from '../../lib/local/deployment.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { freePort } from '../../lib/local/ports.js';
import { allStates, LocalStepFunctions, type AslDefinition, type RunRecord } from '../../lib/local/stepfunctions.js';
import { sweepProgress } from '../../lib/local/sweep-progress.js';
import { SWEEP_STATES } from '../../lib/requalification.js';
import { sharedTableProperties, testDeployment, testLambda } from '../support/deployment.js';

/**
 * "Requalify leads" as the synthesized stack defines it, run by the local state-machine runner with its tasks invoked
 * as deployed — each function in its own container with its template environment — against DynamoDB Local and a
 * recording endpoint for Step Functions (nurture) and EventBridge (the summary event).
 */

const tracks = DEFAULT_NURTURE_PLAN.tracks;
const IDEAL = { jobTitle: 'VP Operations', companySize: '201-1000', industry: 'Construction' };
const NOW = Date.now();
/** `n` days before the test started. */
const daysAgo = (n: number): Date => new Date(NOW - n * DAY_MS);

/** Step Functions' StartExecution/StopExecution, recorded (the nurture state machines themselves are not under test). */
const sfnCalls: { action: string; body: unknown }[] = [];
/** EventBridge PutEvents, recorded. */
const putEvents: unknown[] = [];
let sfn: Server;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let repo: DynamoLeadRepository;
let deployment: LocalDeployment;
let machine: LocalStateMachine;
let recorder = '';

const Summary = z.object({
  asOf: z.string(),
  shards: z.number(),
  failedShards: z.array(z.number()),
  failed: z.number(),
  counts: SweepCounts,
  itemsReadPerLead: z.number(),
});

/** One run of "Requalify leads" as of `asOf`: the run, the summary "Summarize" returned, and invocations per state. */
async function runSweep(opts: { asOf: Date; timeoutOverridesMs?: Record<string, number> }): Promise<{
  run: RunRecord;
  summary: SweepSummary | undefined;
  invocations: Record<string, number>;
}> {
  // One set of containers for the file (cold starts are paid once), but its own for a forced time budget.
  const own = opts.timeoutOverridesMs
    ? testLambda(
        deployment,
        { AWS_ENDPOINT_URL_SFN: recorder, AWS_ENDPOINT_URL_EVENTBRIDGE: recorder },
        { timeoutOverridesMs: opts.timeoutOverridesMs },
      )
    : undefined;
  shared ??= testLambda(deployment, { AWS_ENDPOINT_URL_SFN: recorder, AWS_ENDPOINT_URL_EVENTBRIDGE: recorder });
  const lambda = own ?? shared;
  const invocations: Record<string, number> = {};
  const taskOf = new Map(
    allStates(machine.definition)
      .filter(([, st]) => st.Type === 'Task')
      .map(([name, st]) => [String((st.Parameters as { FunctionName: string }).FunctionName), name]),
  );
  const runner = new LocalStepFunctions({
    machines: [{ arn: machine.arn, definition: machine.definition as AslDefinition }],
    invoke: (arn, payload) => {
      const state = taskOf.get(arn) ?? arn;
      invocations[state] = (invocations[state] ?? 0) + 1;
      return lambda.invoke(arn, payload);
    },
    time: { kind: 'scaled', clock: { now: () => new Date() }, daySeconds: 86_400 },
    retryIntervalMs: 0,
  });
  try {
    const name = `test-sweep-${ulid()}`;
    runner.startExecution(machine.arn, name, JSON.stringify({ asOf: opts.asOf.toISOString() }));
    const run = await runner.settled(name);
    const summarized = run.history.find((h) => h.type === 'StateExited' && h.state === SWEEP_STATES.summarize)?.output;
    return { run, summary: Summary.safeParse(summarized).data, invocations };
  } finally {
    await own?.stop();
  }
}

let shared: ReturnType<typeof testLambda> | undefined;

/** The execution ARN the template's state machine of a track gives a run. */
const executionArnOf = (track: string | undefined, name: string | undefined): string => {
  const arn = Object.values(deployment.stateMachines).find((m) => m.track === track)?.arn ?? '';
  return `${arn.replace(':stateMachine:', ':execution:')}:${name ?? ''}`;
};

beforeAll(async () => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint) throw new Error('DynamoDB Local is not running: run through vitest (globalSetup)');
  client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const table = `requalify-flow-${ulid().toLowerCase()}`;
  await ensureTable(client, table, sharedTableProperties());
  repo = new DynamoLeadRepository(doc, table);
  deployment = testDeployment(table);
  const [schedule] = deployment.schedules;
  const target = schedule ? deployment.stateMachines[schedule.stateMachineLogicalId] : undefined;
  if (!target) throw new Error('the stack has no requalification schedule');
  machine = target;

  const port = await freePort();
  sfn = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target === 'AWSEvents.PutEvents') {
        putEvents.push(JSON.parse(body || '{}'));
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        res.end(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: ulid() }] }));
        return;
      }
      const action = target.replace('AWSStepFunctions.', '');
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
  recorder = `http://127.0.0.1:${port}`;
}, 120_000);

afterAll(async () => {
  await shared?.stop();
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
    const tasks = allStates(machine.definition).filter(([, st]) => st.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual([SWEEP_STATES.summarize, SWEEP_STATES.sweepShard].sort());
    expect(
      tasks
        .map(
          ([, st]) => deployment.functionFor(String((st.Parameters as { FunctionName: string }).FunctionName))?.handler,
        )
        .sort(),
    ).toEqual(['lambdas/handlers/requalify-shard.ts', 'lambdas/handlers/requalify-summary.ts']);
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
    putEvents.length = 0;
    const { run, summary, invocations } = await runSweep({ asOf: new Date(NOW) });

    // Assert
    expect(run.status).toBe('SUCCEEDED');
    expect(summary).toMatchObject({ shards: TABLE.reviewShards, failed: 0, failedShards: [] });
    expect(summary?.counts).toMatchObject({ reviewed: 20, changed: 20, skipped: 0, itemsRead: 20, actionFailures: 0 });
    expect(summary?.counts.transitions).toEqual({ 'lead->dormant': 19, 'disqualified->lead': 1 });
    expect(summary?.counts.actions).toEqual({ stop_nurture: 1, enroll: 1 });
    expect(summary?.itemsReadPerLead).toBe(1);
    expect(JSON.stringify(putEvents)).toContain('Requalification Summary');
    expect(invocations[SWEEP_STATES.summarize]).toBe(1);
    expect(invocations[SWEEP_STATES.sweepShard]).toBe(TABLE.reviewShards);
    expect(sweepProgress(run)).toEqual({
      status: 'SUCCEEDED',
      shards: TABLE.reviewShards,
      shardsDone: TABLE.reviewShards,
    });

    for (const lead of [...silent, enrolled]) expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');
    expect((await repo.getLead(unresponsive.leadId))?.stage).toBe('lead');
    for (const lead of active) expect(await repo.getLead(lead.leadId)).toEqual(lead);

    expect(sfnCalls.map((c) => c.action).sort()).toEqual(['StartExecution', 'StopExecution']);
    expect(sfnCalls.find((c) => c.action === 'StopExecution')?.body).toMatchObject({
      executionArn: executionArnOf(enrolled.nurture?.track, enrolled.nurture?.executionName),
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
    const { run, summary, invocations } = await runSweep({
      asOf: new Date(NOW + 1),
      timeoutOverridesMs: { 'requalify-shard': 5_000 },
    });

    // Assert: shard 3 took 4 invocations, shard 11 two, every other shard one; each lead written once.
    expect(invocations[SWEEP_STATES.sweepShard]).toBe(TABLE.reviewShards - 2 + 4 + 2);
    // A shard invoked again from its cursor is one shard.
    expect(sweepProgress(run).shardsDone).toBe(TABLE.reviewShards);
    expect(summary?.counts).toMatchObject({ reviewed: 6, invocations: TABLE.reviewShards - 2 + 4 + 2 });
    expect(summary?.counts.transitions).toEqual({ 'lead->dormant': 6 });
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
    const { run, summary } = await runSweep({ asOf: new Date(NOW + 2) });

    // Assert
    expect(run).toMatchObject({ status: 'FAILED', error: 'SweepIncomplete' });
    // The shard given up on is finished too, as far as the progress shown goes.
    expect(sweepProgress(run)).toEqual({
      status: 'FAILED',
      shards: TABLE.reviewShards,
      shardsDone: TABLE.reviewShards,
    });
    expect(summary).toMatchObject({ failed: 1, failedShards: [13] });
    expect(summary?.counts.reviewed).toBe(1);
    expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');
  });
});
