/**
 * `npm run leadloop -- seed --demo [--leads N]`: fills the local stack's table with demo leads (bin/demo/personas.ts):
 * a few thousand people with months of history and, for many, what sales decided — enough to run the model lab
 * (`leadloop backtest`) at once. Items are stored as the product stores them: leads scored by the shipped model as the
 * pipeline would have left them, their identities, their events (marked applied) and stage history. The same seed
 * writes the same leads, so running it again changes nothing.
 */
import { parseArgs } from 'node:util';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { bulkWriter } from '../../lambdas/adapters/bulk-writer.js';
import { loadScoringModel } from '../../lambdas/adapters/scoring-model.js';
import { newLead } from '../../lambdas/domain/lead.js';
import { applyEvents } from '../../lambdas/domain/scoring/index.js';
import { demoLeads } from '../demo/personas.js';
import { startProgress } from '../progress.js';
import { openTable, positiveInt, TABLE_OPTIONS, TABLE_USAGE, UsageError } from './table-args.js';

const USAGE = `usage: npm run leadloop -- seed --demo [options]

  --demo               demo leads from the personas of the seed articles, with histories and sales outcomes
  --leads <n>          how many (default 3000)
  --seed <n>           another set of people (default 2026)
  --until <date>       the end of every history (default now)
  --unscored           leave the events unapplied, for the running pipeline to score (slow: minutes per thousand)
${TABLE_USAGE}
  --no-progress        no progress display on stderr`;

export async function seed(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`leadloop seed: ${e.message}\n\n${USAGE}`);
    return 2;
  }
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        demo: { type: 'boolean' },
        leads: { type: 'string' },
        seed: { type: 'string' },
        until: { type: 'string' },
        unscored: { type: 'boolean' },
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
  if (!values.demo) throw new UsageError('only --demo data can be seeded');
  const leads = positiveInt('leads', values.leads, 3000, 10_000_000);
  const seedValue = positiveInt('seed', values.seed, 2026, 2 ** 31);
  const until = values.until !== undefined ? new Date(values.until) : new Date();
  if (Number.isNaN(until.getTime()))
    throw new UsageError('--until must be a date (YYYY-MM-DD) or an ISO-8601 date-time');
  const table = openTable(values);
  try {
    try {
      await table.doc.send(new DescribeTableCommand({ TableName: table.table }));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      console.error(
        `leadloop seed: cannot use table ${table.table} (${why}). Is the local stack running? Start it with \`npm start\`.`,
      );
      return 1;
    }
    const model = loadScoringModel();
    const writer = bulkWriter(table.doc, table.table);
    const progress = startProgress('seed', { unit: 'leads', total: leads, enabled: !values['no-progress'] });
    const appliedAt = until.toISOString();
    let labeled = 0;
    let events = 0;
    let done = 0;
    for (const demo of demoLeads({ leads, until, seed: seedValue })) {
      const start = newLead(demo.leadId, demo.email, new Date(demo.createdAt));
      events += demo.events.length;
      if (demo.events.some((e) => e.type.startsWith('sales_') || e.type === 'opportunity_created')) labeled++;
      if (values.unscored) await writer.addLead(start, demo.events);
      else {
        const { lead, transitions } = applyEvents(start, demo.events, model, until);
        await writer.addLead({ ...lead, version: 1 }, demo.events, { appliedAt, transitions });
      }
      progress.update(++done);
    }
    const items = await writer.flush();
    progress.stop();
    console.log(
      `seeded ${leads} demo leads (${labeled} with a sales outcome, ${events} events; ${items} items) into ${table.table}`,
    );
    console.log('next: npm run leadloop -- backtest --html report.html');
    return 0;
  } finally {
    table.close();
  }
}
