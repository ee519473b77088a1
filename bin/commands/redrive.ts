/**
 * `npm run leadloop -- redrive [options]`: re-scores what the scoring DLQ stands for (issue 13). The DLQ of the table
 * stream's mapping holds only pointers into the stream, but every event not applied yet is in the table's pending
 * index, so redrive re-scores each lead that still has unapplied events, then deletes the DLQ's messages.
 *
 * With the local stack running (`npm start`), it runs inside it (`POST /_local/redrive`): through the score-stream
 * function (nurture runs started as the stream would), and the local DLQ is emptied. With `--endpoint` (a URL, or
 * `aws` for your AWS credentials) this process scores the pending leads itself against that table with the default
 * model; it cannot start nurture runs there (the sweep enrolls them). It then empties the SQS DLQ that `--dlq` names
 * (the stack's `ScoringDeadLetterQueueUrl` output) through the SQS API: AWS's with `--endpoint aws`; with a URL, the
 * endpoint `AWS_ENDPOINT_URL_SQS` names (the local stack's AWS endpoint serves its queues). Without `--dlq` it leaves
 * the DLQ to be purged.
 */
import { parseArgs } from 'node:util';
import { QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { scoringModel } from '../../lambdas/adapters/scoring-model.js';
import { DeadLetterDeleteError, sqsDeadLetterQueue } from '../../lambdas/adapters/sqs-dead-letter-queue.js';
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
  --dlq <queue-url>     with --endpoint: the scoring DLQ to empty once every lead is scored (the stack's
                        ScoringDeadLetterQueueUrl output); with --endpoint <url>, set AWS_ENDPOINT_URL_SQS to reach
                        a local SQS (the local stack's: http://127.0.0.1:$SFN_PORT, SFN_PORT defaulting to 8083)
  --older-than <sec>    only events received at least this long ago (default 0: every unapplied event)
  --json                print the summary as JSON

Exit code 0 when every pending lead was scored, 1 when some failed (the DLQ is then kept) or some DLQ messages
could not be deleted, 2 on bad usage.`;

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
        dlq: { type: 'string' },
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
    if (values.dlq !== undefined && values.endpoint === undefined) {
      throw new UsageError('--dlq goes with --endpoint (the local stack empties its own DLQ)');
    }
    summary =
      values.endpoint !== undefined
        ? await direct(
            { endpoint: values.endpoint, table: values.table, region: values.region, dlq: values.dlq },
            olderThan,
          )
        : await viaStack((values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, ''));
  } catch (e) {
    if (e instanceof DeadLetterDeleteError) {
      console.error(`leadloop redrive: every pending lead was scored, but ${e.message}; run it again to delete them`);
      return 1;
    }
    if (!(e instanceof UsageError)) throw e;
    console.error(`leadloop redrive: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const dlqRead = values.endpoint === undefined || values.dlq !== undefined;
  console.log(values.json ? JSON.stringify(summary, null, 2) : describe(summary, dlqRead));
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
  args: { endpoint: string; table?: string; region?: string; dlq?: string },
  olderThanSeconds: number,
): Promise<RedriveSummary> {
  const { doc, table, close } = openTable(args);
  const repo = new DynamoLeadRepository(doc, table);
  const sqs = args.dlq === undefined ? undefined : openSqs(args.endpoint, args.region);
  try {
    return await redriveLeads(
      {
        ...(sqs && { deadLetters: sqsDeadLetterQueue(sqs, dlqUrl(args.dlq ?? '')) }),
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
  } catch (e) {
    if (e instanceof QueueDoesNotExist) {
      throw new UsageError(`--dlq: SQS knows no queue ${args.dlq ?? ''} (in ${regionOf(args.region)})`);
    }
    throw e;
  } finally {
    sqs?.destroy();
    close();
  }
}

const regionOf = (region: string | undefined) => region ?? process.env.AWS_REGION ?? 'us-east-1';

function dlqUrl(raw: string): string {
  try {
    new URL(raw);
  } catch {
    throw new UsageError(
      `--dlq must be a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/name (got ${JSON.stringify(raw)})`,
    );
  }
  return raw;
}

/**
 * The SQS client for `--dlq`: AWS's with `--endpoint aws`. With a URL it signs with local credentials (as the table's
 * client does), and where `AWS_ENDPOINT_URL_SQS` (or `AWS_ENDPOINT_URL`) names an endpoint it sends every call there:
 * by default SDK v3 sends an SQS call to its queue URL's host rather than to an endpoint configured through the
 * environment, and a local queue URL's host (`sqs.<region>.localhost`) serves nothing.
 */
function openSqs(endpoint: string, region: string | undefined): SQSClient {
  const configured = Boolean(process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL);
  return new SQSClient({
    region: regionOf(region),
    ...(endpoint !== 'aws' && {
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      useQueueUrlAsEndpoint: !configured,
    }),
  });
}

function describe(s: RedriveSummary, dlqRead: boolean): string {
  const lines = [
    `Redrive: ${s.leads} lead(s) with unapplied events, ${s.applied} event(s) applied` +
      (s.invalid ? `, ${s.invalid} that can never be applied (left pending)` : ''),
    dlqRead
      ? `  DLQ: ${s.messages} message(s), ${s.deleted} deleted`
      : '  DLQ not read here: pass --dlq <ScoringDeadLetterQueueUrl> (an output of the stack) to empty it, or once this' +
        ' reports no failures purge it (aws sqs purge-queue --queue-url <ScoringDeadLetterQueueUrl>)',
    ...s.failed.map((f) => `  failed: lead ${f.leadId}: ${f.error}`),
  ];
  return lines.join('\n');
}
