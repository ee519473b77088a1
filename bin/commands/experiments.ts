/**
 * `npm run leadloop -- experiments [--track T] [--json] [--html FILE]`: does the nurture work? For every track that
 * runs an experiment (a holdout, content tests), per experiment id and arm: leads, conversion to MQL, SQL and
 * opportunity within the track's window, the uplift with 95% confidence intervals and a verdict in plain words, and
 * the content variants' opens and clicks without machine activity (docs/experiments.md). Streams the table with
 * parallel Scan segments, as `backtest` does. Reads only.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderExperimentsHtml } from '../../lambdas/adapters/experiments-html.js';
import { emptyStats } from '../../lambdas/adapters/lead-table-reader.js';
import { loadScoringModel } from '../../lambdas/adapters/scoring-model.js';
import {
  CONVERSION_NAMES,
  ExperimentsFold,
  type ExperimentsReport,
  type Rate,
} from '../../lambdas/domain/experiments/report.js';
import { stageTimeline } from '../../lambdas/domain/experiments/timeline.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { startProgress } from '../progress.js';
import { openTable, readableLeads, runModelCommand, TABLE_OPTIONS, TABLE_USAGE, UsageError } from './table-args.js';

const USAGE = `usage: npm run leadloop -- experiments [options]

  --track <id>               only this track
  --as-of <date>             judge windows as of this date (default now; YYYY-MM-DD or ISO-8601)
  --min-detectable <points>  the difference the verdicts are sized for, in percentage points (default 5)
  --json                     print the report as one JSON document (docs/experiments.md)
  --html <file>              write the report as one self-contained HTML page
${TABLE_USAGE}
  --no-progress              no progress display on stderr`;

const pct = (r: Rate): string => (r.rate === null ? '     —' : `${(r.rate * 100).toFixed(1).padStart(5)}%`);
const ci = (r: Rate): string => (r.ci ? `(${(r.ci.low * 100).toFixed(1)}–${(r.ci.high * 100).toFixed(1)})` : '');

function print(r: ExperimentsReport): void {
  console.log(`${r.leadsRead} leads read, as of ${r.asOf}.`);
  if (r.experiments.length === 0) console.log('No experiment has data yet.');
  for (const e of r.experiments) {
    console.log(
      `\n${e.track} · experiment ${e.experimentId}${e.current ? '' : ' (earlier experiment)'}${e.holdoutPercent !== null ? ` · ${e.holdoutPercent}% held out` : ''} · window ${e.windowDays} days`,
    );
    console.log(`  verdict: ${e.verdict}`);
    for (const [name, a] of [
      ['treatment', e.arms.treatment],
      ['holdout', e.arms.holdout],
    ] as const) {
      console.log(
        `  ${name.padEnd(9)} ${String(a.leads).padStart(6)} leads${a.pending ? ` (+${a.pending} pending)` : ''}  ${CONVERSION_NAMES.map((c) => `${c} ${pct(a.conversions[c])} ${ci(a.conversions[c])}`).join('  ')}`,
      );
    }
    for (const c of CONVERSION_NAMES) console.log(`  ${c.padEnd(11)} ${e.uplift[c].verdict}`);
    for (const t of e.touches) {
      console.log(`  touch ${t.touch} variants (opens and clicks without machine activity):`);
      for (const v of t.variants)
        console.log(
          `    ${v.id.padEnd(12)} ${String(v.leads).padStart(6)} mailed  opened ${pct(v.opened)} ${ci(v.opened)}  clicked ${pct(v.clicked)} ${ci(v.clicked)}  machine ${v.machineEvents}`,
        );
      for (const d of t.clickDifference) console.log(`    clicks: ${d.comparison.verdict}`);
    }
  }
}

export const experiments = (argv: string[]): Promise<number> => runModelCommand('experiments', USAGE, () => run(argv));

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        track: { type: 'string' },
        'as-of': { type: 'string' },
        'min-detectable': { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        ...TABLE_OPTIONS,
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const plan = DEFAULT_NURTURE_PLAN;
  if (values.track !== undefined && !plan.tracks.some((t) => t.id === values.track))
    throw new UsageError(`--track must be one of ${plan.tracks.map((t) => t.id).join(', ')}`);
  const asOfMs = values['as-of'] === undefined ? Date.now() : Date.parse(values['as-of']);
  if (Number.isNaN(asOfMs) || (values['as-of'] !== undefined && !/^\d{4}-\d{2}-\d{2}/.test(values['as-of'])))
    throw new UsageError('--as-of must be a date (YYYY-MM-DD) or an ISO-8601 date-time');
  const points = values['min-detectable'] === undefined ? 5 : Number(values['min-detectable']);
  if (!(points >= 1 && points <= 50)) throw new UsageError('--min-detectable must be a number of points from 1 to 50');

  const model = loadScoringModel();
  const fold = new ExperimentsFold({
    plan,
    asOf: new Date(asOfMs),
    minDetectable: points / 100,
    ...(values.track !== undefined && { track: values.track }),
  });
  const table = openTable(values);
  const unreadable: string[] = [];
  const stats = emptyStats();
  try {
    const progress = startProgress('experiments', {
      unit: 'items',
      total: await table.reader.estimatedItems(),
      enabled: !values['no-progress'],
    });
    const leads = readableLeads(
      table.reader,
      { segments: table.segments, onPage: (s) => progress.update(s.items, `${s.leads.toLocaleString('en-US')} leads`) },
      unreadable,
      stats,
    );
    for await (const log of leads) fold.add(log, (l, untilMs) => stageTimeline(l, model, untilMs));
    progress.stop();
    const report = fold.finish();
    if (values.html !== undefined)
      writeFileSync(values.html, renderExperimentsHtml(report, { generatedAt: new Date().toISOString() }));
    if (values.json) console.log(JSON.stringify({ ...report, unreadable: unreadable.length }, null, 2));
    else {
      print(report);
      if (values.html !== undefined) console.log(`\nreport written to ${values.html}`);
    }
    if (unreadable.length > 0)
      console.error(
        `leadloop experiments: ${unreadable.length} lead(s) left out: an item does not fit the schema (${unreadable.slice(0, 5).join(', ')})`,
      );
    return 0;
  } finally {
    table.close();
  }
}
