/**
 * `npm run leadloop -- backtest [--model FILE] [--json] [--html FILE] [--since DATE] [--until DATE]`: how well the
 * scoring model predicted what sales decided (DESIGN §11, docs/model-lab.md). Streams the table with parallel Scan
 * segments, replays every lead with a sales outcome using only what came before it, and reports precision, recall
 * and F1 per stage, lift by score decile, lead times and calibrated thresholds, for the current model and a
 * candidate side by side. Reads only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { emptyStats } from '../../lambdas/adapters/lead-table-reader.js';
import { renderReportHtml } from '../../lambdas/adapters/model-lab-html.js';
import { loadScoringModel } from '../../lambdas/adapters/scoring-model.js';
import {
  finalize,
  type BacktestReport,
  type StageMetrics,
  type ThresholdPoint,
} from '../../lambdas/domain/model-lab/backtest.js';
import { parseModel } from '../../lambdas/domain/scoring/index.js';
import { backtestSpec } from '../analysis/fold.js';
import { defaultWorkers, foldLeads } from '../analysis/pool.js';
import { startProgress } from '../progress.js';
import {
  openTable,
  positiveInt,
  readableLeads,
  TABLE_OPTIONS,
  TABLE_USAGE,
  UsageError,
  runModelCommand,
} from './table-args.js';

const USAGE = `usage: npm run leadloop -- backtest [options]

  --model <file>             a candidate scoring model to compare with the current one (JSON)
  --current <file>           the current model (default: $LEADLOOP_SCORING_MODEL or the shipped default)
  --since <date>             only outcomes at or after this date (YYYY-MM-DD or ISO-8601)
  --until <date>             only outcomes before this date
  --target-precision <p>     recommend the highest recall with at least this precision (0-1), not the best F1
  --json                     print the report as one JSON document (docs/model-lab.md)
  --html <file>              write the report as one self-contained HTML page
${TABLE_USAGE}
  --workers <n>              worker threads that replay (default: cores - 1; 0 replays on the reading thread)
  --examples <n>             examples per change between the models (default 5)
  --no-progress              no progress display on stderr`;

function parseDate(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be a date (YYYY-MM-DD) or an ISO-8601 date-time`);
  return ms;
}

function readModel(path: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read the model file ${path}`);
  }
  return parseModel(JSON.parse(text) as unknown);
}

const pct = (x: number | null) => (x === null ? '    —' : `${(x * 100).toFixed(1).padStart(5)}%`);
const f2 = (x: number | null) => (x === null ? '   —' : x.toFixed(2).padStart(4));
const days = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} d`);

function stageLine(name: string, m: StageMetrics): string {
  return `  ${name.padEnd(4)} flagged ${String(m.flagged).padStart(6)}  tp ${String(m.tp).padStart(5)}  fp ${String(m.fp).padStart(5)}  fn ${String(m.fn).padStart(5)}  tn ${String(m.tn).padStart(5)}  precision ${pct(m.precision)}  recall ${pct(m.recall)}  F1 ${f2(m.f1)}  lead time ${days(m.medianLeadTimeDays)}`;
}

const thresholdText = (p: ThresholdPoint | null): string =>
  p === null
    ? 'none'
    : `${p.stage === 'mql' ? `fit ≥ ${p.fit}, engagement ≥ ${p.engagement}` : `${p.minBantAnswers} BANT, engagement ≥ ${p.minEngagement}`} (precision ${pct(p.precision).trim()}, recall ${pct(p.recall).trim()}, F1 ${f2(p.f1).trim()})`;

function print(r: BacktestReport): void {
  console.log(
    `${r.leads} leads read: ${r.labeled} with a sales outcome (${r.positives} won or accepted, ${r.negatives} rejected), ${r.unlabeled} without${r.outsideWindow ? `, ${r.outsideWindow} outside the window` : ''}.`,
  );
  console.log(
    `\ncurrent model (MQL fit ≥ ${r.current.mql.fit}, engagement ≥ ${r.current.mql.engagement}; SQL ${r.current.sql.minBantAnswers} BANT, engagement ≥ ${r.current.sql.minEngagement})`,
  );
  console.log(stageLine('MQL', r.stages.mql));
  console.log(stageLine('SQL', r.stages.sql));
  if (r.candidate) {
    console.log(
      `\ncandidate model (MQL fit ≥ ${r.candidate.thresholds.mql.fit}, engagement ≥ ${r.candidate.thresholds.mql.engagement}; SQL ${r.candidate.thresholds.sql.minBantAnswers} BANT, engagement ≥ ${r.candidate.thresholds.sql.minEngagement})`,
    );
    console.log(stageLine('MQL', r.candidate.stages.mql));
    console.log(stageLine('SQL', r.candidate.stages.sql));
  }
  console.log('\nlift by score decile (1 = highest scores):');
  console.log(
    `  ${r.deciles.map((d) => `${d.decile}: ${d.lift === null ? '—' : `${d.lift.toFixed(2)}×`}`).join('  ')}`,
  );
  const goal =
    r.recommended.objective === 'max-f1' ? 'best F1' : `highest recall at precision ≥ ${r.recommended.targetPrecision}`;
  console.log(`\nrecommended thresholds (${goal}):`);
  console.log(`  MQL ${thresholdText(r.recommended.mql)}`);
  console.log(`  SQL ${thresholdText(r.recommended.sql)}`);
  for (const note of r.recommended.notes) console.log(`  note: ${note}`);
  if (r.changes) {
    console.log(`\n${r.changes.leads} labeled lead(s) would be predicted differently by the candidate:`);
    for (const [move, n] of Object.entries(r.changes.moves).sort((a, b) => b[1] - a[1]))
      console.log(`  ${move.padEnd(14)} ${n}`);
    for (const e of r.changes.examples.slice(0, 5))
      console.log(
        `  e.g. ${e.leadId} (${e.label}, ${e.outcome}): ${e.current.predicted} → ${e.candidate.predicted}; score ${e.current.explanation.total} → ${e.candidate.explanation.total}`,
      );
  }
}

export const backtest = (argv: string[]): Promise<number> => runModelCommand('backtest', USAGE, () => run(argv));

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        current: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        'target-precision': { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        ...TABLE_OPTIONS,
        workers: { type: 'string' },
        examples: { type: 'string' },
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
  const sinceMs = parseDate('since', values.since);
  const untilMs = parseDate('until', values.until);
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs >= untilMs)
    throw new UsageError('--since must be before --until');
  let targetPrecision: number | undefined;
  if (values['target-precision'] !== undefined) {
    targetPrecision = Number(values['target-precision']);
    if (!(targetPrecision > 0 && targetPrecision <= 1))
      throw new UsageError('--target-precision must be a number above 0 and at most 1, e.g. 0.6');
  }
  const workers = values.workers === undefined ? defaultWorkers() : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > 64)
    throw new UsageError('--workers must be a whole number from 0 to 64');
  const examples = positiveInt('examples', values.examples, 5, 100);
  const current = values.current !== undefined ? readModel(values.current) : loadScoringModel();
  const candidate = values.model !== undefined ? readModel(values.model) : undefined;
  const task = {
    kind: 'backtest' as const,
    current,
    ...(candidate && { candidate }),
    ...(sinceMs !== undefined && { sinceMs }),
    ...(untilMs !== undefined && { untilMs }),
    examples,
  };
  const table = openTable(values);
  const unreadable: string[] = [];
  const stats = emptyStats();
  try {
    const progress = startProgress('backtest', {
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
    const tally = await foldLeads(task, leads, { workers });
    progress.stop();
    const report = finalize(tally, backtestSpec(task), {
      ...(targetPrecision !== undefined && { targetPrecision }),
      ...(sinceMs !== undefined && { sinceMs }),
      ...(untilMs !== undefined && { untilMs }),
    });
    if (values.html !== undefined) {
      writeFileSync(
        values.html,
        renderReportHtml(report, {
          generatedAt: new Date().toISOString(),
          currentName:
            values.current !== undefined
              ? basename(values.current)
              : process.env.LEADLOOP_SCORING_MODEL
                ? basename(process.env.LEADLOOP_SCORING_MODEL)
                : 'shipped default',
          ...(values.model !== undefined && { candidateName: basename(values.model) }),
        }),
      );
    }
    if (values.json) console.log(JSON.stringify({ ...report, unreadable: unreadable.length }, null, 2));
    else {
      print(report);
      if (values.html !== undefined) console.log(`\nreport written to ${values.html}`);
    }
    if (unreadable.length > 0)
      console.error(
        `leadloop backtest: ${unreadable.length} lead(s) left out: an item does not fit the schema (${unreadable.slice(0, 5).join(', ')})`,
      );
    if (stats.split > 0)
      console.error(
        `leadloop backtest: ${stats.split} lead(s) came back split across a scan; their figures may be off`,
      );
    return 0;
  } finally {
    table.close();
  }
}
