import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLeads } from '../../bin/demo/personas.js';
import { renderReportHtml } from '../../lambdas/adapters/model-lab-html.js';
import {
  addLead,
  emptyTally,
  finalize,
  type BacktestReport,
  type BacktestSpec,
} from '../../lambdas/domain/model-lab/backtest.js';
import { defaultModel, parseModel } from '../../lambdas/domain/scoring/index.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';

/** Test artifacts (gitignored): the rendered report and its screenshot. */
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

const candidate = parseModel({
  ...defaultModel,
  thresholds: { ...defaultModel.thresholds, mql: { fit: 30, engagement: 10 } },
});
const spec: BacktestSpec = { current: defaultModel, candidate, examples: 2 };

let browser: TestBrowser;
let report: BacktestReport;
let file: string;

beforeAll(async () => {
  const tally = emptyTally(spec);
  for (const lead of demoLeads({ leads: 400, until: new Date('2026-06-01T00:00:00Z'), seed: 7 })) {
    addLead(tally, { lead, events: lead.events }, spec);
  }
  report = finalize(tally, spec);
  mkdirSync(ARTIFACTS, { recursive: true });
  file = join(ARTIFACTS, 'model-lab-report.html');
  writeFileSync(
    file,
    renderReportHtml(report, {
      generatedAt: '2026-06-01T00:00:00Z',
      currentName: 'shipped default',
      candidateName: 'candidate.json',
    }),
  );
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => browser?.close());

describe('model lab HTML report in a real browser', () => {
  it('renders the charts and figures from one self-contained file, with no request beyond it', async () => {
    const page = await browser.context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    expect(requests).toEqual([pathToFileURL(file).href]);
    await expect(page.title()).resolves.toBe('Leadloop model lab: backtest');

    // Four charts: the two trade-off curves, the lift chart and the score distribution, each drawn at a real size.
    const charts = page.locator('figure svg');
    expect(await charts.count()).toBe(4);
    for (let i = 0; i < 4; i++) {
      const box = await charts.nth(i).boundingBox();
      expect(box?.width).toBeGreaterThan(300);
      expect(box?.height).toBeGreaterThan(150);
    }
    expect(await page.locator('figure svg path[stroke]').count()).toBeGreaterThanOrEqual(4);
    expect(await page.locator('figure svg rect').count()).toBeGreaterThan(10);

    // The figures a marketer reads are the report's.
    const mqlRow = page.locator('table tr', { has: page.locator('th', { hasText: /^MQL$/ }) }).first();
    const precision = report.stages.mql.precision;
    await expect(mqlRow.innerText()).resolves.toContain(precision === null ? '—' : `${(precision * 100).toFixed(1)}%`);
    await expect(page.locator('body').innerText()).resolves.toContain(
      `${report.labeled.toLocaleString('en-US')}\nwith a sales outcome`,
    );
    if (report.changes && report.changes.leads > 0)
      await expect(page.locator('.example').count()).resolves.toBeGreaterThan(0);

    const shot = join(ARTIFACTS, 'model-lab-report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    await page.close();
  });

  it('escapes what leads typed (a job title is text, never markup)', async () => {
    const html = renderReportHtml(
      {
        ...report,
        changes: {
          leads: 1,
          moves: { 'mql → none': 1 },
          examples: [
            { ...(report.changes?.examples[0] ?? fallbackExample()), jobTitle: '<img src=x onerror=alert(1)>' },
          ],
        },
      },
      { generatedAt: 'now', currentName: 'a<b', candidateName: 'c' },
    );
    const page = await browser.context.newPage();
    await page.setContent(html);
    expect(await page.locator('img').count()).toBe(0);
    await expect(page.locator('body').innerText()).resolves.toContain('<img src=x onerror=alert(1)>');
    await page.close();
  });
});

function fallbackExample() {
  const side = {
    predicted: 'mql' as const,
    explanation: { fit: 1, engagement: 1, total: 2, grade: 'D', contributions: [] },
  };
  return {
    leadId: 'x',
    label: 'positive' as const,
    outcome: 'sales_accepted',
    outcomeAt: '2026-01-01T00:00:00.000Z',
    current: side,
    candidate: { ...side, predicted: 'none' as const },
    rank: 0,
  };
}
