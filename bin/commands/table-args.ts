import type { Lead } from '../../lambdas/domain/lead.js';
import { ScoringModelError } from '../../lambdas/domain/scoring/index.js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LeadTableReader } from '../../lambdas/adapters/lead-table-reader.js';

/**
 * The options every command that reads the whole lead table shares (simulate, backtest, seed): where the table is
 * and how many parallel Scan segments read it.
 */
export const TABLE_OPTIONS = {
  endpoint: { type: 'string' },
  table: { type: 'string' },
  region: { type: 'string' },
  segments: { type: 'string' },
} as const;

export const TABLE_USAGE = `  --endpoint <url>     DynamoDB endpoint (default: the local stack's, http://127.0.0.1:$DYNAMODB_PORT or 8000);
                       pass --endpoint aws to use AWS with your credentials
  --table <name>       table (default $TABLE_NAME or leadloop-local)
  --region <region>    (default $AWS_REGION or us-east-1)
  --segments <n>       parallel Scan segments (default 16; DynamoDB Local reads faster with more)`;

/** What a user got wrong on the command line: the command prints it with its usage and exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Runs a model command (`simulate`, `backtest`): a usage error, a bad model file or bad JSON in it is told in one line
 * (with the usage for a usage error) and exits 2; anything else is a bug and is thrown.
 */
export async function runModelCommand(name: string, usage: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof UsageError || e instanceof ScoringModelError || e instanceof SyntaxError)) throw e;
    console.error(`leadloop ${name}: ${e.message}${e instanceof UsageError ? `\n\n${usage}` : ''}`);
    return 2;
  }
}

export interface TableArgs {
  endpoint?: string;
  table?: string;
  region?: string;
  segments?: string;
}

/** A positive integer option, or the default. */
export function positiveInt(name: string, raw: string | undefined, fallback: number, max = 1_000_000): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--${name} must be a whole number from 1 to ${max}`);
  return n;
}

/** The table's clients (close them when done) and the parsed segment count. */
export function openTable(args: TableArgs): {
  doc: DynamoDBDocumentClient;
  reader: LeadTableReader;
  table: string;
  segments: number;
  close: () => void;
} {
  const segments = positiveInt('segments', args.segments, 16, 1_000_000);
  const endpoint = args.endpoint ?? `http://127.0.0.1:${process.env.DYNAMODB_PORT || 8000}`;
  if (endpoint !== 'aws') {
    try {
      new URL(endpoint);
    } catch {
      throw new UsageError(
        `--endpoint must be a URL such as http://127.0.0.1:8000, or "aws" (got ${JSON.stringify(endpoint)})`,
      );
    }
  }
  const client = new DynamoDBClient({
    region: args.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint === 'aws' ? {} : { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const table = args.table ?? (process.env.TABLE_NAME || 'leadloop-local');
  return { doc, reader: new LeadTableReader(doc, table), table, segments, close: () => client.destroy() };
}

/** Streams the readable leads of a table, counting the unreadable ones (their ids kept, up to `keep`). */
export async function* readableLeads(
  reader: LeadTableReader,
  options: Parameters<LeadTableReader['leads']>[0],
  unreadable: string[],
  stats?: Parameters<LeadTableReader['leads']>[1],
  onSunsetLead?: (lead: Lead) => void,
) {
  for await (const read of reader.leads(options, stats)) {
    if (read.kind === 'lead') {
      if (read.sunsetLead) onSunsetLead?.(read.sunsetLead);
      yield read.log;
    } else unreadable.push(read.leadId);
  }
}
