/**
 * `npm run leadloop -- simulate --model <file>`: previews a scoring-model change. Re-scores every stored lead from its
 * events under the current model and under the candidate, and prints how many would change stage, how, with
 * examples, and what the sunset policy of the tracks file does to them. Reads only: nothing is written.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { emptyStats } from '../../lambdas/adapters/lead-table-reader.js';
import { loadScoringModel } from '../../lambdas/adapters/scoring-model.js';
import { parseModel } from '../../lambdas/domain/scoring/index.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import {
  comparisonOf,
  sunsetReport,
  type ModelComparison,
  type SunsetReport,
} from '../../lambdas/domain/simulation.js';
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

const USAGE = `usage: npm run leadloop -- simulate --model <file.json> [options]

  --model <file>       the candidate scoring model (JSON; see docs/scoring-model.md)
  --current <file>     the model to compare against (default: $LEADLOOP_SCORING_MODEL or the shipped default)
${TABLE_USAGE}
  --workers <n>        worker threads that score (default: cores - 1; 0 scores on the reading thread)
  --as-of <ISO-8601>   score as of this instant (default now)
  --examples <n>       examples per stage move (default 3)
  --no-progress        no progress display on stderr
  --json               print the comparison as JSON`;
function print(c: ModelComparison): void {
  console.log(`${c.leads} leads re-scored; ${c.changed} would change stage.\n`);
  console.log('stage           current  candidate');
  for (const row of c.funnel)
    console.log(`${row.stage.padEnd(16)}${String(row.before).padStart(7)}  ${String(row.after).padStart(9)}`);
  if (c.changed === 0) return;
  console.log('\nmove                          leads  examples (lead: total/grade → total/grade)');
  for (const [move, n] of Object.entries(c.moves).sort((a, b) => b[1] - a[1])) {
    const ex = (c.examples[move] ?? [])
      .map(
        (e) =>
          `${e.leadId}: ${e.before.total.toFixed(1)}/${e.before.grade} → ${e.after.total.toFixed(1)}/${e.after.grade}`,
      )
      .join('; ');
    console.log(`${move.padEnd(30)}${String(n).padStart(5)}  ${ex}`);
  }
}

function printSunset(r: SunsetReport): void {
  console.log(
    `\nSunset policy (tracks file): ${r.exhausted} lead(s) exhausted a track without engaging; ` +
      `${r.reengagement} would get the re-engagement mail next, ${r.sunset} sunset (no marketing mail until they act), ` +
      `${r.reenrollable} mailed again (new engagement or a changed fit).`,
  );
}

export const simulate = (argv: string[]): Promise<number> => runModelCommand('simulate', USAGE, () => run(argv));

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        current: { type: 'string' },
        ...TABLE_OPTIONS,
        workers: { type: 'string' },
        'as-of': { type: 'string' },
        examples: { type: 'string' },
        'no-progress': { type: 'boolean' },
        json: { type: 'boolean' },
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
  if (!values.model) throw new UsageError('--model is required');
  const candidate = parseModel(JSON.parse(readFileSync(values.model, 'utf8')) as unknown);
  const current = loadScoringModel(values.current ?? process.env.LEADLOOP_SCORING_MODEL);
  const asOf = values['as-of'] ? new Date(values['as-of']) : new Date();
  if (Number.isNaN(asOf.getTime())) throw new UsageError('--as-of must be an ISO-8601 date-time');
  const examples = positiveInt('examples', values.examples, 3, 1000);
  const workers = values.workers === undefined ? defaultWorkers() : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > 64)
    throw new UsageError('--workers must be a whole number from 0 to 64');
  const table = openTable(values);
  const unreadable: string[] = [];
  const stats = emptyStats();
  const sunset: SunsetReport = { exhausted: 0, reengagement: 0, sunset: 0, reenrollable: 0 };
  try {
    const progress = startProgress('simulate', {
      unit: 'items',
      total: await table.reader.estimatedItems(),
      enabled: !values['no-progress'],
    });
    const leads = readableLeads(
      table.reader,
      { segments: table.segments, onPage: (s) => progress.update(s.items, `${s.leads.toLocaleString('en-US')} leads`) },
      unreadable,
      stats,
      // Tallied as the leads stream past (only leads the sunset policy has a record of are parsed whole).
      (lead) => {
        const one = sunsetReport([lead], DEFAULT_NURTURE_PLAN.tracks);
        for (const k of Object.keys(sunset) as (keyof SunsetReport)[]) sunset[k] += one[k];
      },
    );
    const tally = await foldLeads({ kind: 'simulate', current, candidate, asOf: asOf.toISOString(), examples }, leads, {
      workers,
    });
    progress.stop();
    const comparison = comparisonOf(tally);
    // An event item that no longer fits the schema (written by hand, or by an older version) leaves that lead out of
    // the preview rather than ending it; the lead ids are listed.
    if (values.json) console.log(JSON.stringify({ ...comparison, sunset, unreadable }, null, 2));
    else {
      print(comparison);
      printSunset(sunset);
      if (unreadable.length > 0)
        console.log(
          `\n${unreadable.length} lead(s) left out: an event does not fit the schema (${unreadable.slice(0, 5).join(', ')})`,
        );
    }
    if (stats.split > 0)
      console.error(
        `leadloop simulate: ${stats.split} lead(s) came back split across a scan; their figures may be off`,
      );
    return 0;
  } finally {
    table.close();
  }
}
