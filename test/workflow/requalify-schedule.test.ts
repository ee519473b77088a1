import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { DAY_MS, scaledClock } from '../../lambdas/domain/clock.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { SweepCounts, type SweepSummary } from '../../lambdas/domain/sweep.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { loadHandler } from '../../lib/local/handlers.js';
import type { LocalRequest, LocalRouteHandler } from '../../lib/local/http-server.js';
import { nextSweepAt, requalificationService } from '../../lib/local/requalification.js';
import type { LocalStackContext, StartedService } from '../../lib/local/stack.js';

/** The local requalification schedule on a scaled clock (one simulated day = 4 real seconds), and POST /_local/sweep. */

const DAY_SECONDS = 4;
const origin = new Date();
const clock = scaledClock(DAY_SECONDS, origin);

let client: DynamoDBClient;
let repo: DynamoLeadRepository;
const routes = new Map<string, LocalRouteHandler>();
const logs: string[] = [];
const runs: (SweepSummary | Error)[] = [];
let service: StartedService;

const context = (table: string): LocalStackContext => ({
  url: 'http://127.0.0.1:3999',
  dynamoDbEndpoint: process.env.DYNAMODB_ENDPOINT ?? '',
  sesEndpoint: 'http://127.0.0.1:8005',
  tableName: table,
  region: 'us-east-1',
  dataDir: undefined,
  daySeconds: DAY_SECONDS,
  clockOrigin: origin,
  clock,
  registerLocalRoute: (method, path, handler) => {
    routes.set(`${method} ${path}`, handler);
    return () => routes.delete(`${method} ${path}`);
  },
  loadHandler,
  log: (line) => logs.push(line),
});

beforeAll(async () => {
  const endpoint = process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('DynamoDB Local is not running: run through vitest (globalSetup)');
  client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const table = `requalify-schedule-${ulid().toLowerCase()}`;
  await ensureTable(client, table);
  repo = new DynamoLeadRepository(
    DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    table,
  );
  // As startLocalStack does before any handler is imported.
  Object.assign(process.env, {
    TABLE_NAME: table,
    LEADLOOP_DAY_SECONDS: String(DAY_SECONDS),
    LEADLOOP_CLOCK_ORIGIN: origin.toISOString(),
    NURTURE_STATE_MACHINES: '{}',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
}, 60_000);

afterAll(async () => {
  await service?.stop();
  client.destroy();
});

/** A lead whose last activity was `days` simulated days ago, stored as scoring leaves it. */
async function leadSilentFor(days: number): Promise<Lead> {
  const at = new Date(clock.now().getTime() - days * DAY_MS);
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
const request = (body: string): LocalRequest => ({
  method: 'POST',
  path: '/_local/sweep',
  query: new URLSearchParams(),
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(body),
  params: {},
  sourceIp: '127.0.0.1',
});

describe('the local requalification schedule', () => {
  it('computes the next daily sweep time in simulated UTC', () => {
    expect(nextSweepAt(new Date('2026-03-02T02:59:59.999Z')).toISOString()).toBe('2026-03-02T03:00:00.000Z');
    expect(nextSweepAt(new Date('2026-03-02T03:00:00.000Z')).toISOString()).toBe('2026-03-03T03:00:00.000Z');
    expect(nextSweepAt(new Date('2026-03-02T20:00:00.000Z'), { hour: 6, minute: 30 }).toISOString()).toBe(
      '2026-03-03T06:30:00.000Z',
    );
  });

  it('sweeps on schedule as of the scheduled simulated time: a silent lead becomes dormant', async () => {
    // Arrange
    const silent = await leadSilentFor(100);
    const active = await leadSilentFor(3);
    service = await requalificationService({ onRun: (r) => runs.push(r) }).start(context(repo.tableName));
    expect(service.describe?.[0]).toContain('daily at 03:00 simulated UTC');

    // Act: within one simulated day (4 s) the 03:00 tick comes.
    const deadline = Date.now() + 45_000;
    while (runs.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    // Assert
    const [first] = runs;
    if (!first || first instanceof Error) throw first ?? new Error('no scheduled sweep ran');
    expect(first.asOf).toMatch(/T03:00:00\.000Z$/);
    expect(first.counts.transitions).toEqual({ 'lead->dormant': 1 });
    expect((await repo.getLead(silent.leadId))?.stage).toBe('dormant');
    expect((await repo.getLead(active.leadId))?.stage).toBe(active.stage);
    expect(logs.some((l) => l.startsWith(`requalification sweep as of ${first.asOf}: reviewed 1`))).toBe(true);
  });

  it('runs one now on POST /_local/sweep, as of a given instant, and refuses a bad body', async () => {
    const route = routes.get('POST /_local/sweep');
    if (!route) throw new Error('no /_local/sweep route');
    const lead = await leadSilentFor(200);
    // Wait out a scheduled run in progress, if any (the route answers 409 meanwhile).
    let res = await route(request('{}'));
    for (let i = 0; res.status === 409 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      res = await route(request('{}'));
    }
    expect(res.status).toBe(200);
    const summary = Summary.parse(JSON.parse(String(res.body)));
    expect(summary.failed).toBe(0);
    expect((await repo.getLead(lead.leadId))?.stage).toBe('dormant');

    const bad = await route(request('{"asOf": "tomorrow"}'));
    expect(bad.status).toBe(400);
  });

  it('stops its timer and its route', async () => {
    await service.stop();
    expect(routes.has('POST /_local/sweep')).toBe(false);
    const before = runs.length;
    await new Promise((r) => setTimeout(r, DAY_SECONDS * 1000 + 500));
    expect(runs.length).toBe(before);
  });
});
