/**
 * `npm run leadloop -- redrive [options]`: re-scores what the scoring DLQ stands for (issue 13). The DLQ of the table
 * stream's mapping holds only pointers into the stream, but every event not applied yet is in the table's pending
 * index, so redrive re-scores each lead that still has unapplied events, then deletes the DLQ's messages.
 *
 * With the local stack running (`npm start`), it runs inside it (`POST /_local/redrive`): through the score-stream
 * function (nurture runs started as the stream would), and the local DLQ is emptied. With `--endpoint` (a URL, or
 * `aws` for your AWS credentials) this process scores the pending leads itself against that table with the default
 * model; it cannot start nurture runs there (the sweep enrolls them), and leaves the SQS DLQ to be purged.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { scoringModel } from '../../lambdas/adapters/scoring-model.js';
import { systemClock } from '../../lambdas/domain/clock.js';
import { redrive as redriveLeads, type RedriveSummary } from '../../lambdas/domain/redrive.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents } from '../../lambdas/domain/scoring/index.js';
import { openTable, UsageError } from './table-args.js';

const USAGE = `usage: npm run leadloop -- redrive [options]

  --url <base>          the running local stack (default http://127.0.0.1:$PORT, PORT defaulting to 3000)
  --endpoint <url|aws>  score in this process against that DynamoDB instead (aws: your AWS credentials)
  --table <name>        table for --endpoint (default $TABLE_NAME or leadloop-local)
  --region <region>     (default $AWS_REGION or us-east-1)
  --older-than <sec>    only events received at least this long ago (default 0: every unapplied event)
  --json                print the summary as JSON

Exit code 0 when every pending lead was scored, 1 when some failed (the DLQ is then kept), 2 on bad usage.`;

const Summary = z.object({
  messages: z.number(),
  deleted: z.number(),
  leads: z.number(),
  applied: z.number(),
  invalid: z.number(),
  failed: z.array(z.object({ leadId: z.string(), error: z.string() })),
});

export async function redrive(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        endpoint: { type: 'string' },
        table: { type: 'string' },
        region: { type: 'string' },
        'older-than': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`leadloop redrive: ${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const olderThan = Number(values['older-than'] ?? 0);
  if (!Number.isFinite(olderThan) || olderThan < 0) {
    console.error(`leadloop redrive: --older-than must be a number of seconds\n\n${USAGE}`);
    return 2;
  }
  let summary: RedriveSummary;
  try {
    summary =
      values.endpoint !== undefined
        ? await direct({ endpoint: values.endpoint, table: values.table, region: values.region }, olderThan)
        : await viaStack((values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, ''));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`leadloop redrive: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  console.log(values.json ? JSON.stringify(summary, null, 2) : describe(summary, values.endpoint !== undefined));
  return summary.failed.length > 0 ? 1 : 0;
}

async function viaStack(baseUrl: string): Promise<RedriveSummary> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl}/_local/redrive`, { method: 'POST' });
  } catch {
    throw new UsageError(`no local stack answers at ${baseUrl}: start \`npm start\`, or pass --endpoint`);
  }
  const body = Summary.safeParse(await res.json().catch(() => undefined));
  if (!body.success) throw new Error(`the redrive at ${baseUrl} failed (${res.status})`);
  return body.data;
}

async function direct(
  args: { endpoint: string; table?: string; region?: string },
  olderThanSeconds: number,
): Promise<RedriveSummary> {
  const { doc, table, close } = openTable(args);
  const repo = new DynamoLeadRepository(doc, table);
  try {
    return await redriveLeads(
      {
        pendingLeads: (before) => repo.allLeadsWithPendingEvents(before),
        score: async (leadId, eventIds) => {
          const result = await scorePendingEvents(
            {
              leads: repo,
              clock: systemClock,
              apply: (lead, events, now) => applyEvents(lead, events, scoringModel, now),
            },
            leadId,
            [...eventIds],
          );
          return { applied: result.applied.length, invalid: result.invalid.size };
        },
        now: () => systemClock.now(),
      },
      { olderThanMs: olderThanSeconds * 1000 },
    );
  } finally {
    close();
  }
}

function describe(s: RedriveSummary, direct: boolean): string {
  const lines = [
    `Redrive: ${s.leads} lead(s) with unapplied events, ${s.applied} event(s) applied` +
      (s.invalid ? `, ${s.invalid} that can never be applied (left pending)` : ''),
    direct
      ? '  DLQ not read here: once this reports no failures, purge it (aws sqs purge-queue --queue-url <ScoringDeadLetterQueue>)'
      : `  DLQ: ${s.messages} message(s), ${s.deleted} deleted`,
    ...s.failed.map((f) => `  failed: lead ${f.leadId}: ${f.error}`),
  ];
  return lines.join('\n');
}
