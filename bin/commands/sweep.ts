/**
 * `npm run leadloop -- sweep [options]`: runs one requalification sweep now (DESIGN §7) and prints its summary.
 *
 * With the local stack running (`npm start`), the sweep runs inside it (`POST /_local/sweep`): its clock, its table and
 * its nurture state machines. Otherwise, or with `--direct`, `--endpoint` or `--table`, this process runs the
 * synthesized "Requalify leads" state machine itself against that DynamoDB, on the local stack's simulated clock (read
 * from its data dir) when there is one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { scaledClock, systemClock, type Clock } from '../../lambdas/domain/clock.js';
import { SweepCounts, type SweepSummary } from '../../lambdas/domain/sweep.js';
import type { SweepProgress } from '../../lib/local/sweep-progress.js';
import { startProgress, type Progress } from '../progress.js';

const USAGE = `usage: npm run leadloop -- sweep [options]

  --as-of <ISO-8601>   sweep as of this instant (default: now, on the local stack's simulated clock)
  --json               print the summary as JSON
  --url <base>         the running local stack (default http://127.0.0.1:$PORT, PORT defaulting to 3000)
  --direct             run the sweep in this process, against DynamoDB, even if the stack is running
  --endpoint <url>     DynamoDB endpoint for --direct (default http://127.0.0.1:$DYNAMODB_PORT, 8000)
  --table <name>       table for --direct (default $TABLE_NAME or leadloop-local)
  --data-dir <dir>     the local stack's data dir, for its clock (default $LEADLOOP_DATA_DIR or .leadloop)
  --region <region>    (default $AWS_REGION or us-east-1)
  --no-progress        no progress display on stderr

Exit code 0 when every shard was swept, 1 when some failed (their due leads stay due), 2 on bad usage.`;

const Summary = z.object({
  asOf: z.string(),
  shards: z.number(),
  failedShards: z.array(z.number()),
  failed: z.number(),
  counts: SweepCounts,
  itemsReadPerLead: z.number(),
});
const FailedSweep = z.object({ error: z.string(), message: z.string(), summary: Summary.optional() });
const SavedClock = z.object({ origin: z.iso.datetime(), daySeconds: z.number().positive() });

type Outcome = { summary: SweepSummary; error?: string } | { unavailable: string };

export async function sweep(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    ({ values } = parseOptions(argv));
  } catch (e) {
    return usage(e instanceof Error ? e.message : String(e));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const asOf = values['as-of'] === undefined ? undefined : new Date(values['as-of']);
  if (asOf && Number.isNaN(asOf.getTime())) return usage('--as-of must be an ISO-8601 date-time');
  const direct = values.direct === true || values.endpoint !== undefined || values.table !== undefined;

  const progress = (shards: number): Progress =>
    startProgress('sweep', { unit: 'shards', total: shards, enabled: !values['no-progress'] });
  let outcome: Outcome | undefined;
  if (!direct) {
    const baseUrl = (values.url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, '');
    outcome = await viaStack(baseUrl, asOf, progress);
    if ('unavailable' in outcome) {
      if (values.url !== undefined) {
        console.error(`leadloop: ${outcome.unavailable}`);
        return 1;
      }
      console.log(`(${outcome.unavailable}; sweeping DynamoDB directly)`);
      outcome = undefined;
    }
  }
  outcome ??= await inProcess({
    endpoint: values.endpoint ?? `http://127.0.0.1:${process.env.DYNAMODB_PORT || 8000}`,
    table: values.table ?? (process.env.TABLE_NAME || 'leadloop-local'),
    region: values.region ?? (process.env.AWS_REGION || 'us-east-1'),
    dataDir: resolve(values['data-dir'] ?? (process.env.LEADLOOP_DATA_DIR || '.leadloop')),
    asOf,
    progress,
  });
  if ('unavailable' in outcome) {
    console.error(`leadloop: ${outcome.unavailable}`);
    return 1;
  }
  console.log(values.json ? JSON.stringify(outcome.summary, null, 2) : describe(outcome.summary));
  if (outcome.error) console.error(`leadloop: ${outcome.error}`);
  return outcome.summary.failed > 0 || outcome.error ? 1 : 0;
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      'as-of': { type: 'string' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      direct: { type: 'boolean' },
      endpoint: { type: 'string' },
      table: { type: 'string' },
      'data-dir': { type: 'string' },
      region: { type: 'string' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function usage(problem: string): number {
  console.error(`leadloop sweep: ${problem}\n\n${USAGE}`);
  return 2;
}

/**
 * Draws the run's progress (shards finished of those planned) every half second until `done` settles. `read` gives
 * the run's progress, or undefined while there is none to read yet.
 */
async function follow<T>(
  done: Promise<T>,
  read: () => Promise<SweepProgress | undefined> | SweepProgress | undefined,
  progress: (shards: number) => Progress,
): Promise<T> {
  let bar: Progress | undefined;
  let finished = false;
  const tick = async () => {
    const p = await Promise.resolve(read()).catch(() => undefined);
    if (finished || !p || p.shards === 0) return;
    bar ??= progress(p.shards);
    bar.update(p.shardsDone, p.status === 'RUNNING' ? '' : p.status.toLowerCase());
  };
  const timer = setInterval(() => void tick(), 500);
  try {
    return await done;
  } finally {
    finished = true;
    clearInterval(timer);
    bar?.stop();
  }
}

const ProgressBody = z.object({
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTED']),
  shards: z.number(),
  shardsDone: z.number(),
});

/** Asks the running stack to sweep; `unavailable` when nothing answers or the stack has no sweep route. */
async function viaStack(
  baseUrl: string,
  asOf: Date | undefined,
  progress: (shards: number) => Progress,
): Promise<Outcome> {
  const name = `cli-sweep-${Date.now()}`;
  let res: Response;
  try {
    res = await follow(
      fetch(`${baseUrl}/_local/sweep`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...(asOf && { asOf: asOf.toISOString() }), name }),
      }),
      async () => {
        const r = await fetch(`${baseUrl}/_local/sweep/${name}`);
        const body = ProgressBody.safeParse(await r.json());
        return r.ok && body.success ? body.data : undefined;
      },
      progress,
    );
  } catch {
    return { unavailable: `no local stack answers at ${baseUrl}` };
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (res.status === 404) return { unavailable: `the stack at ${baseUrl} has no requalification schedule` };
  if (res.ok) {
    const summary = Summary.safeParse(body);
    if (summary.success) return { summary: summary.data };
  }
  const failed = FailedSweep.safeParse(body);
  if (failed.success && failed.data.summary) return { summary: failed.data.summary, error: failed.data.message };
  return {
    unavailable: `the sweep at ${baseUrl} failed (${res.status}): ${failed.success ? failed.data.message : JSON.stringify(body)}`,
  };
}

/** Runs the synthesized state machine in this process, its handlers pointed at `table` on `endpoint`. */
async function inProcess(opts: {
  endpoint: string;
  table: string;
  region: string;
  dataDir: string;
  asOf: Date | undefined;
  progress: (shards: number) => Progress;
}): Promise<Outcome> {
  const client = new DynamoDBClient({
    endpoint: opts.endpoint,
    region: opts.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await client.send(new DescribeTableCommand({ TableName: opts.table }));
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return {
      unavailable: `no table ${opts.table} at ${opts.endpoint} (${reason}); start \`npm start\` or pass --endpoint and --table`,
    };
  } finally {
    client.destroy();
  }

  const clock = localClock(join(opts.dataDir, 'clock.json'));
  const { readDeployment, synthesizeTemplate } = await import('../../lib/local/deployment.js');
  const { LocalLambda } = await import('../../lib/local/lambda.js');
  const { LocalStepFunctions } = await import('../../lib/local/stepfunctions.js');
  const { SWEEP_STATES } = await import('../../lib/requalification.js');
  const { template } = synthesizeTemplate();
  const tableId = Object.keys(template.Resources).find((id) => template.Resources[id]?.Type === 'AWS::DynamoDB::Table');
  const deployment = readDeployment(template, {
    region: opts.region,
    apiUrl: 'http://127.0.0.1:3000',
    names: tableId ? { [tableId]: opts.table } : {},
  });
  const [schedule] = deployment.schedules;
  const machine = schedule ? deployment.stateMachines[schedule.stateMachineLogicalId] : undefined;
  if (!machine) return { unavailable: 'the synthesized stack has no requalification schedule' };
  console.log('(no nurture state machines run here: nurture stops and enrollments fail and are counted)');
  // The template's functions with their own environments, pointed at this DynamoDB; Step Functions at nothing.
  const lambda = new LocalLambda({
    functions: deployment.functions,
    region: opts.region,
    baseEnvironment: {
      AWS_ENDPOINT_URL_DYNAMODB: opts.endpoint,
      AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(clock.settings && {
        LEADLOOP_DAY_SECONDS: String(clock.settings.daySeconds),
        LEADLOOP_CLOCK_ORIGIN: clock.settings.origin,
      }),
    },
    onLog: () => undefined,
  });
  const runner = new LocalStepFunctions({
    machines: [
      {
        arn: machine.arn,
        definition: machine.definition as { StartAt: string; States: Record<string, { Type: string }> },
      },
    ],
    invoke: (arn, payload) => lambda.invoke(arn, payload),
    time: { kind: 'scaled', clock: clock.clock, daySeconds: clock.settings?.daySeconds ?? 86_400 },
    retryIntervalMs: 200,
  });
  try {
    const asOf = (opts.asOf ?? clock.clock.now()).toISOString();
    const name = `cli-sweep-${Date.now()}`;
    runner.startExecution(machine.arn, name, JSON.stringify({ asOf }));
    const { sweepProgress } = await import('../../lib/local/sweep-progress.js');
    const done = await follow(
      runner.settled(name),
      () => {
        const run = runner.get(name);
        return run && sweepProgress(run);
      },
      opts.progress,
    );
    const summarized = done?.history.find(
      (h) => h.type === 'StateExited' && h.state === SWEEP_STATES.summarize,
    )?.output;
    const summary = Summary.safeParse(done?.status === 'SUCCEEDED' ? done.output : summarized);
    if (!summary.success)
      return { unavailable: `the sweep ended ${done?.status ?? 'without a run'}: ${done?.cause ?? ''}` };
    return done?.status === 'SUCCEEDED'
      ? { summary: summary.data }
      : { summary: summary.data, error: done?.cause ?? 'the sweep failed' };
  } finally {
    await lambda.stop();
  }
}

/** The local stack's simulated clock, from the clock file it keeps in its data dir; real time without one. */
function localClock(file: string): { clock: Clock; settings?: z.infer<typeof SavedClock> } {
  if (!existsSync(file)) return { clock: systemClock };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { clock: systemClock };
  }
  const saved = SavedClock.safeParse(raw);
  if (!saved.success) return { clock: systemClock };
  return { clock: scaledClock(saved.data.daySeconds, new Date(saved.data.origin)), settings: saved.data };
}

function describe(summary: SweepSummary): string {
  const c = summary.counts;
  const list = (r: Record<string, number>) =>
    Object.entries(r)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  return [
    `Requalification sweep as of ${summary.asOf} (${summary.shards} shards${summary.failed ? `, ${summary.failed} failed: ${summary.failedShards.join(' ')}` : ''})`,
    `  leads reviewed      ${c.reviewed}${c.skipped ? ` (+${c.skipped} re-scored meanwhile, left alone)` : ''}`,
    `  stage changes       ${c.changed}: ${list(c.transitions)}`,
    `  nurture             ${list(c.actions)}${c.actionFailures ? ` (${c.actionFailures} failed)` : ''}`,
    `  items read          ${c.itemsRead} (${summary.itemsReadPerLead.toFixed(2)} per lead) in ${c.pages} queries, ${c.invocations} invocations`,
  ].join('\n');
}
