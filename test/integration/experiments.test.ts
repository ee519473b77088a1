import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { experiments } from '../../bin/commands/experiments.js';
import { seed } from '../../bin/commands/seed.js';
import { demoLeads } from '../../bin/demo/personas.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { Stage } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { trackById } from '../../lambdas/domain/nurture/tracks.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { sharedTableProperties } from '../support/deployment.js';

/**
 * `leadloop seed --demo` then `leadloop experiments`: the report's counts recomputed here another way — each lead's
 * events and the stage history the seed stored, read one lead at a time through the repository, rather than the
 * report's parallel scan and replay of the scoring model.
 */

const UNTIL = '2026-06-01T00:00:00.000Z';
const LEADS = 250;
const track = trackById(DEFAULT_NURTURE_PLAN, 'testimonials');
const windowMs = track.touches.reduce((d, t) => d + t.waitDays, 0) * DAY_MS;

describe('leadloop experiments on demo data', () => {
  const table = `exp-${Date.now()}`;
  const dir = mkdtempSync(join(tmpdir(), 'leadloop-exp-'));
  const common = ['--endpoint', process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '', '--table', table, '--no-progress'];
  let client: DynamoDBClient;
  let repo: DynamoLeadRepository;

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
    repo = new DynamoLeadRepository(DynamoDBDocumentClient.from(client), table);
    const seeded = await capture(() => seed(['--demo', '--leads', String(LEADS), '--until', UNTIL, ...common]));
    expect(seeded.code).toBe(0);
  }, 300_000);
  afterAll(() => client.destroy());

  it(
    'reports per arm what the event log and the stage history say, and mails held-out leads nothing',
    { timeout: 120_000 },
    async () => {
      const html = join(dir, 'experiments.html');
      const run = await capture(() => experiments(['--json', '--html', html, '--as-of', UNTIL, ...common]));
      expect(run.code).toBe(0);
      const report = JSON.parse(run.out) as {
        leadsRead: number;
        experiments: {
          track: string;
          experimentId: string;
          current: boolean;
          holdoutPercent: number;
          verdict: string;
          arms: Record<
            'treatment' | 'holdout',
            { leads: number; pending: number; conversions: Record<string, { count: number }> }
          >;
          touches: {
            touch: number;
            variants: { id: string; leads: number; opened: { count: number }; clicked: { count: number } }[];
          }[];
        }[];
      };
      expect(report.leadsRead).toBe(LEADS);
      expect(report.experiments.map((e) => [e.track, e.experimentId, e.current, e.holdoutPercent])).toEqual([
        ['testimonials', 'testimonials-2026-1', true, 20],
      ]);
      const [e] = report.experiments;
      if (!e) throw new Error('no experiment');

      // Recompute, lead by lead, from the stored events and stage history.
      type Tally = { leads: number; pending: number; mql: number; sql: number; opportunity: number };
      const tally: Record<'treatment' | 'holdout', Tally> = {
        treatment: { leads: 0, pending: 0, mql: 0, sql: 0, opportunity: 0 },
        holdout: { leads: 0, pending: 0, mql: 0, sql: 0, opportunity: 0 },
      };
      const reach: Record<'mql' | 'sql' | 'opportunity', Stage[]> = {
        mql: ['mql', 'sql', 'opportunity', 'customer'],
        sql: ['sql', 'opportunity', 'customer'],
        opportunity: ['opportunity', 'customer'],
      };
      for (const demo of demoLeads({ leads: LEADS, until: new Date(UNTIL), seed: 2026 })) {
        const events = await repo.listEvents(demo.leadId);
        const marks = events
          .filter(
            (ev) =>
              ev.properties.experimentId === e.experimentId &&
              ((ev.type === 'email_sent' && ev.properties.arm === 'treatment') || ev.type === 'touch_held_out'),
          )
          .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
        const first = marks[0];
        if (!first) continue;
        const arm = first.type === 'touch_held_out' ? 'holdout' : 'treatment';
        // Held-out leads got no mail from the track.
        if (arm === 'holdout')
          expect(events.filter((ev) => ev.type === 'email_sent' && ev.properties.track === 'testimonials')).toEqual([]);
        const start = Date.parse(first.occurredAt);
        const end = start + windowMs;
        if (end > Date.parse(UNTIL)) {
          tally[arm].pending++;
          continue;
        }
        tally[arm].leads++;
        const history = (await repo.stageHistory(demo.leadId)).sort((a, b) => a.at.localeCompare(b.at));
        const before = history.filter((t) => Date.parse(t.at) < start).at(-1)?.to ?? 'subscriber';
        const during = history.filter((t) => Date.parse(t.at) >= start && Date.parse(t.at) <= end).map((t) => t.to);
        for (const c of ['mql', 'sql', 'opportunity'] as const) {
          const opportunityEvent =
            c === 'opportunity' &&
            events.some(
              (ev) =>
                ev.type === 'opportunity_created' &&
                Date.parse(ev.occurredAt) >= start &&
                Date.parse(ev.occurredAt) <= end,
            );
          if (reach[c].includes(before) || during.some((s) => reach[c].includes(s)) || opportunityEvent)
            tally[arm][c]++;
        }
      }

      for (const arm of ['treatment', 'holdout'] as const) {
        expect({ arm, leads: e.arms[arm].leads, pending: e.arms[arm].pending }).toEqual({
          arm,
          leads: tally[arm].leads,
          pending: tally[arm].pending,
        });
        for (const c of ['mql', 'sql', 'opportunity'] as const)
          expect({ arm, c, count: e.arms[arm].conversions[c]?.count }).toEqual({ arm, c, count: tally[arm][c] });
      }
      expect(tally.holdout.leads).toBeGreaterThan(5);
      const share = tally.holdout.leads / (tally.holdout.leads + tally.treatment.leads);
      expect(share).toBeGreaterThan(0.1);
      expect(share).toBeLessThan(0.3);
      expect(e.verdict).toMatch(
        /^(not enough data yet: need about [\d,]+ more leads per arm to detect a 5-point difference|treatment converts|no difference)/,
      );
      expect(existsSync(html) && readFileSync(html, 'utf8')).toMatch(/Holdout \(no mail\)[\s\S]*<svg/);
    },
  );

  it(
    'counts each variant’s opens and clicks without machine activity, as the log says',
    { timeout: 120_000 },
    async () => {
      // With --as-of far ahead every window is closed, so every treated lead counts in its variant.
      const run = await capture(() =>
        experiments(['--json', '--as-of', '2027-01-01', '--track', 'testimonials', ...common]),
      );
      const report = JSON.parse(run.out) as {
        experiments: {
          touches: {
            touch: number;
            variants: {
              id: string;
              leads: number;
              opened: { count: number };
              clicked: { count: number };
              machineEvents: number;
            }[];
          }[];
        }[];
      };
      const counted = new Map<string, { leads: number; opened: number; clicked: number; machine: number }>();
      for (const demo of demoLeads({ leads: LEADS, until: new Date(UNTIL), seed: 2026 })) {
        const events = await repo.listEvents(demo.leadId);
        const sent = events.find(
          (ev) => ev.type === 'email_sent' && ev.properties.track === 'testimonials' && ev.properties.touch === 1,
        );
        if (!sent) continue;
        const id = String(sent.properties.contentVariant);
        const c = counted.get(id) ?? { leads: 0, opened: 0, clicked: 0, machine: 0 };
        counted.set(id, c);
        c.leads++;
        const mine = events.filter(
          (ev) =>
            (ev.type === 'email_opened' || ev.type === 'email_clicked') &&
            ev.properties.messageId === sent.properties.messageId,
        );
        c.machine += mine.filter((ev) => ev.properties.machine === true).length;
        const human = mine.filter((ev) => ev.properties.machine !== true);
        if (human.length > 0) c.opened++;
        if (human.some((ev) => ev.type === 'email_clicked')) c.clicked++;
      }
      const variants = report.experiments[0]?.touches.find((t) => t.touch === 1)?.variants ?? [];
      expect(variants.length).toBe(2);
      expect(
        Object.fromEntries(
          variants.map((v) => [
            v.id,
            { leads: v.leads, opened: v.opened.count, clicked: v.clicked.count, machine: v.machineEvents },
          ]),
        ),
      ).toEqual(Object.fromEntries(counted));
    },
  );
});
