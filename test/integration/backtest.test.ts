import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backtest } from '../../bin/commands/backtest.js';
import { seed } from '../../bin/commands/seed.js';
import { BacktestReport, predict } from '../../lambdas/domain/model-lab/backtest.js';
import { outcomeOf } from '../../lambdas/domain/model-lab/outcomes.js';
import { replayLead } from '../../lambdas/domain/model-lab/replay.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { newLead } from '../../lambdas/domain/lead.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { sharedTableProperties } from '../support/deployment.js';
import { leadLog } from '../unit/model-lab/support.js';
import { testRepository } from '../support/dynamo.js';

describe('backtest against the live scoring pipeline', () => {
  it('predicts the stages the pipeline recorded before each outcome', { timeout: 120_000 }, async () => {
    const { repo } = testRepository();
    await fc.assert(
      fc.asyncProperty(
        leadLog('live').filter((log) => outcomeOf(log.events) !== undefined),
        async (generated) => {
          // Arrange: the lead captured, then every event (outcomes too) recorded and scored as it arrives.
          const leadId = ulid();
          const events = generated.events
            .map((e) => ({ ...e, leadId, eventId: `${leadId}-${e.eventId}` }))
            .sort((a, b) =>
              a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.eventId < b.eventId ? -1 : 1,
            );
          const email = `live.${leadId.toLowerCase()}@${generated.lead.email.split('@')[1]}`;
          await repo.createLead(newLead(leadId, email, new Date(generated.lead.createdAt)));
          const clock = fixedClock(generated.lead.createdAt);
          const deps = {
            leads: repo,
            clock,
            apply: (l: Parameters<typeof applyEvents>[0], e: Parameters<typeof applyEvents>[1], now: Date) =>
              applyEvents(l, e, defaultModel, now),
          };
          for (const event of events) {
            clock.set(event.occurredAt);
            await repo.appendEvent(event);
            await scorePendingEvents(deps, leadId, [event.eventId]);
          }

          // Act: the backtest of what is stored.
          const stored = {
            lead: { leadId, email, createdAt: generated.lead.createdAt },
            events: await repo.listEvents(leadId),
          };
          const replay = replayLead(stored, defaultModel);
          if (!replay) throw new Error('labeled lead not replayed');
          const predicted = predict(replay, defaultModel).predicted;

          // Assert: what the pipeline recorded strictly before the first outcome.
          const history = (await repo.stageHistory(leadId)).filter((t) => Date.parse(t.at) < replay.outcomeAtMs);
          const live = history.some((t) => t.to === 'sql')
            ? 'sql'
            : history.some((t) => t.to === 'mql')
              ? 'mql'
              : 'none';
          expect(predicted).toBe(live);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('leadloop seed --demo and leadloop backtest', () => {
  const table = `lab-${Date.now()}`;
  const dir = mkdtempSync(join(tmpdir(), 'leadloop-lab-'));
  const common = ['--endpoint', process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '', '--table', table, '--no-progress'];
  let client: DynamoDBClient;

  const capture = async (run: () => Promise<number>) => {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const error = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void err.push(String(s)));
    try {
      return { code: await run(), out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  };

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await ensureTable(client, table, sharedTableProperties());
  }, 60_000);
  afterAll(() => client.destroy());

  it(
    'seeds demo leads, then reports as JSON and HTML, with a candidate side by side',
    { timeout: 120_000 },
    async () => {
      const seeded = await capture(() => seed(['--demo', '--leads', '150', '--until', '2026-06-01', ...common]));
      expect(seeded.code).toBe(0);
      expect(seeded.out).toMatch(/seeded 150 demo leads \(\d+ with a sales outcome/);
      expect(seeded.out).not.toMatch(/@/);

      const candidate = join(dir, 'candidate.json');
      writeFileSync(
        candidate,
        JSON.stringify({
          ...defaultModel,
          thresholds: { ...defaultModel.thresholds, mql: { fit: 30, engagement: 10 } },
        }),
      );
      const html = join(dir, 'report.html');
      const run = await capture(() =>
        backtest(['--json', '--html', html, '--model', candidate, '--workers', '1', ...common]),
      );
      expect(run.code).toBe(0);
      const report = BacktestReport.parse(JSON.parse(run.out));
      expect(report.leads).toBe(150);
      expect(report.labeled).toBeGreaterThan(10);
      expect(report.positives + report.negatives).toBe(report.labeled);
      for (const stage of ['mql', 'sql'] as const)
        expect(Object.keys(report.stages[stage])).toEqual(
          expect.arrayContaining(['tp', 'fp', 'fn', 'tn', 'precision', 'recall', 'f1']),
        );
      expect(report.deciles).toHaveLength(10);
      expect(report.thresholds.length).toBeGreaterThan(50);
      expect(report.recommended.mql).not.toBeNull();
      expect(report.candidate?.thresholds.mql).toEqual({ fit: 30, engagement: 10 });
      expect(existsSync(html) && readFileSync(html, 'utf8')).toMatch(/<svg/);

      // The same figures in this thread as in worker threads.
      const inline = await capture(() => backtest(['--json', '--model', candidate, '--workers', '0', ...common]));
      expect(BacktestReport.parse(JSON.parse(inline.out))).toEqual(report);

      // A window on the outcome dates keeps fewer leads.
      const windowed = await capture(() => backtest(['--json', '--since', '2026-04-01', '--workers', '0', ...common]));
      const w = BacktestReport.parse(JSON.parse(windowed.out));
      expect(w.labeled + w.outsideWindow).toBe(report.labeled);
      expect(w.outsideWindow).toBeGreaterThan(0);
    },
  );

  it.each([
    [['--since', 'last tuesday'], /--since must be a date/],
    [['--target-precision', '1.5'], /--target-precision must be a number above 0 and at most 1/],
    [['--since', '2026-05-01', '--until', '2026-04-01'], /--since must be before --until/],
    [['--segments', '0'], /--segments must be a whole number/],
    [['--endpoint', 'not a url'], /--endpoint must be a URL/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--model', '/no/such/model.json'], /cannot read the model file/],
  ])('rejects bad input %j with a clear message and exit code 2', async (args, message) => {
    const run = await capture(() => backtest([...common, ...args]));
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
  });

  it('rejects an invalid candidate model naming the rule', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ ...defaultModel, thresholds: { ...defaultModel.thresholds, mql: { fit: 15, engagement: -1 } } }),
    );
    const run = await capture(() => backtest(['--model', bad, ...common]));
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/thresholds\.mql\.engagement/);
  });

  it('seed without --demo is a usage error', async () => {
    const run = await capture(() => seed(common));
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/only --demo/);
  });
});
