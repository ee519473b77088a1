/**
 * `npm run leadloop -- backfill [options]`: brings a table written before the keyed lookups and the pending index
 * (issue 13) up to date. Every event item is read once (parallel Scan segments); an event with lookup copies
 * (suppressions, sends, SES records) gets them, and an event never applied gets its pending index keys, each in one
 * transaction with the check that its lead is live (`DynamoLeadRepository.backfillEvent`). Safe to run again, and
 * while the stack takes traffic: a second run finds everything current.
 */
import { parseArgs } from 'node:util';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { startProgress } from '../progress.js';
import { openTable, TABLE_OPTIONS, TABLE_USAGE, UsageError } from './table-args.js';

const USAGE = `usage: npm run leadloop -- backfill [options]

${TABLE_USAGE}
  --json               print the counts as JSON
  --no-progress        no progress display on stderr

Exit code 0 when done, 2 on bad usage.`;

interface Counts {
  events: number;
  updated: number;
  current: number;
  gone: number;
  invalid: number;
}

export async function backfill(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`leadloop backfill: ${e.message}\n\n${USAGE}`);
    return 2;
  }
}

async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...TABLE_OPTIONS,
        json: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { doc, table, segments, close } = openTable(values);
  const repo = new DynamoLeadRepository(doc, table);
  const counts: Counts = { events: 0, updated: 0, current: 0, gone: 0, invalid: 0 };
  const progress = startProgress('backfill', { unit: 'events', enabled: !values['no-progress'] });
  try {
    await Promise.all(
      Array.from({ length: segments }, async (_, segment) => {
        let ExclusiveStartKey: Record<string, unknown> | undefined;
        do {
          const page = await doc.send(
            new ScanCommand({
              TableName: table,
              Segment: segment,
              TotalSegments: segments,
              FilterExpression: 'entity = :event',
              ExpressionAttributeValues: { ':event': 'event' },
              ExclusiveStartKey,
            }),
          );
          for (const item of page.Items ?? []) {
            counts[await repo.backfillEvent(item)]++;
            progress.update(++counts.events);
          }
          ExclusiveStartKey = page.LastEvaluatedKey;
        } while (ExclusiveStartKey);
      }),
    );
    progress.finish(counts.events);
  } finally {
    progress.stop();
    close();
  }
  console.log(
    values.json
      ? JSON.stringify(counts, null, 2)
      : `Backfill of ${table}: ${counts.events} event(s) read, ${counts.updated} brought up to date, ${counts.current} already current` +
          (counts.gone ? `, ${counts.gone} of leads being erased (left to the erasure)` : '') +
          (counts.invalid ? `, ${counts.invalid} unreadable (left as they are)` : ''),
  );
  return 0;
}
