import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import aslValidator from 'asl-validator';
import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { DAY_MS, type Clock } from '../../lambdas/domain/clock.js';
import { SweepCounts, type SweepSummary } from '../../lambdas/domain/sweep.js';
import { LeadStore } from '../lead-store.js';
import { DEFAULT_SWEEP_TIME, Requalification, SWEEP_STATES } from '../requalification.js';
import { loadHandler, type LambdaHandler } from './handlers.js';
import { lambdaContext, LOCAL_ACCOUNT_ID } from './lambda-context.js';
import type { LocalService, LocalStackContext, StartedService } from './stack.js';
import './promise-with-resolvers.js';

/**
 * The requalification sweep, locally (DESIGN §9): the "Requalify leads" state machine synthesized from the
 * `Requalification` construct and run by aws-local-stepfunctions, its Lambda tasks bound to the same handler modules
 * (`requalify-shard`, `requalify-summary`), started daily at the construct's time of day on the stack's scaled clock.
 */

type LocalTaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type JsonValue = Awaited<ReturnType<LocalTaskHandlers[string]>>;

/** A Lambda function of the synthesized stack, bound to its handler module. */
export interface LocalFunction {
  /** The fake ARN the resolved definition names it by. */
  arn: string;
  /** `lambdas/handlers/<handler>`. */
  handler: string;
  timeoutMs: number;
}

/** The synthesized sweep state machine, with its intrinsic functions resolved, and its functions. */
export interface SweepMachine {
  /** The Amazon States Language definition, as deployed (ARNs are local fakes). */
  definition: StateMachineDefinition;
  /** By logical id. */
  functions: Record<string, LocalFunction>;
  /** Task state name → logical id of the function it invokes. */
  tasks: Record<string, string>;
}

export interface SynthOptions {
  region?: string;
  /** @default 4, the construct's default */
  maxConcurrency?: number;
}

/** Synthesizes the `Requalification` construct (bundling skipped) and resolves its state machine definition. */
export function synthesizeSweepMachine(opts: SynthOptions = {}): SweepMachine {
  const outdir = mkdtempSync(join(tmpdir(), 'leadloop-requalification-synth-'));
  try {
    return synthesizeIn(outdir, opts);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function synthesizeIn(outdir: string, opts: SynthOptions): SweepMachine {
  const region = opts.region ?? 'us-east-1';
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  const stack = new Stack(app, 'LeadloopLocalRequalification', { env: { account: LOCAL_ACCOUNT_ID, region } });
  const { table } = new LeadStore(stack, 'LeadStore');
  const requalification = new Requalification(stack, 'Requalification', {
    table,
    ...(opts.maxConcurrency !== undefined && { maxConcurrency: opts.maxConcurrency }),
  });

  const functions: Record<string, LocalFunction> = {};
  for (const [fn, handler] of [
    [requalification.sweepShardFunction, 'requalify-shard'],
    [requalification.summaryFunction, 'requalify-summary'],
  ] as const) {
    const cfn = fn.node.defaultChild;
    if (!(cfn instanceof CfnFunction)) throw new Error(`${fn.node.path}: expected a CfnFunction`);
    const logicalId = stack.getLogicalId(cfn);
    const timeout = stack.resolve(cfn.timeout);
    functions[logicalId] = {
      arn: localFunctionArn(region, logicalId),
      handler,
      timeoutMs: (typeof timeout === 'number' ? timeout : 3) * 1000,
    };
  }

  const cfnMachine = requalification.stateMachine.node.defaultChild;
  if (!(cfnMachine instanceof CfnStateMachine)) throw new Error('expected a CfnStateMachine');
  const text = resolveIntrinsics(stack.resolve(cfnMachine.definitionString), {
    region,
    functionArn: (logicalId) => localFunctionArn(region, logicalId),
  });
  if (typeof text !== 'string') throw new Error('the state machine definition did not resolve to a string');
  const definition = asDefinition(JSON.parse(text));
  // asl-validator annotates what it checks: it gets a copy.
  const validation = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  if (!validation.isValid) throw new Error(`"Requalify leads" is not valid ASL: ${validation.errorsText('; ')}`);
  const byArn = new Map(Object.entries(functions).map(([id, f]) => [f.arn, id]));
  const tasks: Record<string, string> = {};
  for (const [name, state] of taskStates(definition)) {
    const target = LambdaInvokeState.safeParse(state);
    const id = target.success ? byArn.get(target.data.Parameters.FunctionName) : undefined;
    if (!id) throw new Error(`task state "${name}" invokes no function of the construct`);
    tasks[name] = id;
  }
  return { definition, functions, tasks };
}

export const localFunctionArn = (region: string, logicalId: string): string =>
  `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${logicalId}`;

/** cdk.json's context (feature flags), so the local synth matches `cdk synth`. */
function cdkJsonContext(): Record<string, unknown> {
  const file = new URL('../../cdk.json', import.meta.url);
  if (!existsSync(file)) return {};
  const parsed = z
    .object({ context: z.record(z.string(), z.unknown()).default({}) })
    .safeParse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.success ? parsed.data.context : {};
}

/**
 * Resolves the CloudFormation intrinsics CDK leaves in a definition string: `Fn::Join`, `Ref` to pseudo parameters
 * and `Fn::GetAtt <function>.Arn` (to a local fake ARN). Anything else is an error, not a silent placeholder.
 */
export function resolveIntrinsics(
  value: unknown,
  ctx: { region: string; functionArn: (logicalId: string) => string },
): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null)
    return value;
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, ctx));
  if (typeof value !== 'object') throw new Error(`cannot resolve ${String(value)}`);
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Fn::Join') {
    const join = z.tuple([z.string(), z.array(z.unknown())]).parse(arg);
    return join[1].map((part) => String(resolveIntrinsics(part, ctx))).join(join[0]);
  }
  if (entries.length === 1 && key === 'Ref') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': ctx.region,
      'AWS::AccountId': LOCAL_ACCOUNT_ID,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    const name = z.string().parse(arg);
    const resolved = pseudo[name];
    if (resolved === undefined) throw new Error(`cannot resolve Ref ${name} locally`);
    return resolved;
  }
  if (entries.length === 1 && key === 'Fn::GetAtt') {
    const [logicalId, attribute] = z.tuple([z.string(), z.string()]).parse(arg);
    if (attribute !== 'Arn') throw new Error(`cannot resolve Fn::GetAtt ${logicalId}.${attribute} locally`);
    return ctx.functionArn(logicalId);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, ctx)]));
}

const StatesShape = z.object({ StartAt: z.string(), States: z.record(z.string(), z.record(z.string(), z.unknown())) });
const LambdaInvokeState = z.object({
  Type: z.literal('Task'),
  Resource: z.string().endsWith(':states:::lambda:invoke'),
  Parameters: z.object({ FunctionName: z.string() }),
});

function isDefinition(x: unknown): x is StateMachineDefinition {
  return StatesShape.safeParse(x).success;
}

function asDefinition(x: unknown): StateMachineDefinition {
  if (!isDefinition(x)) throw new Error('the synthesized definition is not a state machine (StartAt, States)');
  return x;
}

/** Every Task state of a definition, nested Map and Parallel states included, by name. */
export function taskStates(definition: unknown): [string, unknown][] {
  const out: [string, unknown][] = [];
  const visit = (machine: unknown) => {
    const parsed = StatesShape.safeParse(machine);
    if (!parsed.success) return;
    for (const [name, state] of Object.entries(parsed.data.States)) {
      if (state.Type === 'Task') out.push([name, state]);
      visit(state.ItemProcessor ?? state.Iterator);
      if (Array.isArray(state.Branches)) state.Branches.forEach(visit);
    }
  };
  visit(definition);
  return out;
}

const LambdaInvokeParameters = z.object({ FunctionName: z.string(), Payload: z.unknown() });

/** Round-trips a value through JSON, as Lambda's payloads do (undefined fields vanish, dates become strings). */
function asJson(value: unknown): JsonValue {
  const text = JSON.stringify(value ?? null);
  const parsed: JsonValue = JSON.parse(text);
  return parsed;
}

export interface RunSweepOptions {
  /** The sweep's instant. @default the clock's now */
  asOf?: Date;
  clock?: Clock;
  region?: string;
  /** Per handler name, a shorter timeout than the function's (tests use it to force the shard loop). */
  timeoutMs?: Partial<Record<string, number>>;
  /** Milliseconds between retries instead of the definition's intervals. @default 200 */
  retryIntervalMs?: number;
  /** A synthesized machine to reuse (synthesizing takes a moment). */
  machine?: SweepMachine;
  /** Loads handler modules; the environment (TABLE_NAME, DYNAMODB_ENDPOINT…) must be set first. */
  load?: (name: string) => Promise<LambdaHandler>;
}

/** One local run of "Requalify leads": the summary, and how often each task ran. */
export interface SweepRunResult {
  summary: SweepSummary;
  invocations: Record<string, number>;
  /** The execution's output (the summary) as the state machine returned it. */
  output: unknown;
}

const SummaryOutput = z.object({
  asOf: z.string(),
  shards: z.number(),
  failedShards: z.array(z.number()),
  failed: z.number(),
  counts: SweepCounts,
  itemsReadPerLead: z.number(),
});

/** A local execution that ended in a Fail state or an unhandled error; with the summary if "Summarize" ran. */
export class SweepExecutionError extends Error {
  override readonly name = 'SweepExecutionError';
  constructor(
    message: string,
    readonly summary?: SweepSummary,
  ) {
    super(message);
  }
}

/**
 * Runs the synthesized "Requalify leads" once, locally, with its tasks bound to the handler modules (imported in this
 * process: the environment they read must be set first). Returns the run's summary; throws SweepExecutionError if
 * the execution failed (e.g. "Sweep incomplete").
 */
export async function runSweep(opts: RunSweepOptions = {}): Promise<SweepRunResult> {
  const region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const machine = opts.machine ?? synthesizeSweepMachine({ region });
  const load = opts.load ?? ((name: string) => loadHandler(name));
  const asOf = opts.asOf ?? opts.clock?.now() ?? new Date();
  const invocations: Record<string, number> = {};

  const taskResourceLocalHandlers: LocalTaskHandlers = {};
  for (const [stateName, logicalId] of Object.entries(machine.tasks)) {
    const fn = machine.functions[logicalId];
    if (!fn) throw new Error(`no function ${logicalId}`);
    const handler = await load(fn.handler);
    const timeoutMs = opts.timeoutMs?.[fn.handler] ?? fn.timeoutMs;
    taskResourceLocalHandlers[stateName] = async (input) => {
      const { Payload } = LambdaInvokeParameters.parse(input);
      invocations[stateName] = (invocations[stateName] ?? 0) + 1;
      const context = lambdaContext({ functionName: `leadloop-local-${fn.handler}`, region, timeoutMs });
      const result = await Promise.resolve(handler(asJson(Payload), context));
      return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: asJson(result) };
    };
  }
  const retryMs = opts.retryIntervalMs ?? 200;
  const retryIntervalOverrides = Object.fromEntries(Object.keys(machine.tasks).map((name) => [name, retryMs]));

  const execution = new StateMachine(machine.definition).run(
    { asOf: asOf.toISOString() },
    { overrides: { taskResourceLocalHandlers, retryIntervalOverrides } },
  );
  // The summary is the output of "Summarize", also when the run then fails ("Sweep incomplete").
  let summarized: unknown;
  const watching = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateExited' && event.state.name === SWEEP_STATES.summarize) summarized = event.state.output;
    }
  })();
  let output: unknown;
  try {
    output = await execution.result;
  } catch (e) {
    await watching.catch(() => undefined);
    const summary = SummaryOutput.safeParse(summarized);
    throw new SweepExecutionError(
      `"Requalify leads" failed: ${e instanceof Error ? e.message : String(e)}`,
      summary.success ? summary.data : undefined,
    );
  }
  await watching;
  const summary = SummaryOutput.safeParse(output);
  if (!summary.success)
    throw new SweepExecutionError(`unexpected output of "Requalify leads": ${JSON.stringify(output)}`);
  return { summary: summary.data, invocations, output };
}

/** The body of `POST /_local/sweep`: empty, or the instant to sweep as of (default: the stack's now). */
export const SweepRequest = z.object({ asOf: z.iso.datetime({ offset: true }).optional() });

function parseBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The next instant at or after `after` (exclusive) that is the daily sweep time, in simulated UTC. */
export function nextSweepAt(after: Date, time: { hour: number; minute: number } = DEFAULT_SWEEP_TIME): Date {
  const day = new Date(after);
  day.setUTCHours(time.hour, time.minute, 0, 0);
  return day.getTime() > after.getTime() ? day : new Date(day.getTime() + DAY_MS);
}

export interface RequalificationServiceOptions {
  /** @default DEFAULT_SWEEP_TIME (03:00 UTC, simulated) */
  time?: { hour: number; minute: number };
  /** Called with each run's summary (or error). */
  onRun?: (result: SweepSummary | Error) => void;
}

/**
 * The requalification schedule of the local stack (`startLocalStack({ services: [requalificationService()] })`): a
 * sweep every simulated day at the construct's time of day, as of that scheduled instant (like Scheduler's
 * `<aws.scheduler.scheduled-time>`), plus `POST /_local/sweep` to run one now. A tick that comes while a run is still
 * going is skipped.
 */
export function requalificationService(opts: RequalificationServiceOptions = {}): LocalService {
  return {
    name: 'requalification schedule',
    async start(ctx: LocalStackContext): Promise<StartedService> {
      const machine = synthesizeSweepMachine({ region: ctx.region });
      const load = (name: string) => ctx.loadHandler(name);
      const realMsPerSimMs = ctx.daySeconds / 86_400;
      let running: Promise<SweepSummary> | undefined;
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      /** Ticks that came while a run was still going (a simulated day shorter than a sweep): reported with the next run. */
      let skipped = 0;

      const sweep = (asOf: Date): Promise<SweepSummary> => {
        running ??= runSweep({ asOf, machine, load, region: ctx.region })
          .then((r) => r.summary)
          .finally(() => {
            running = undefined;
          });
        return running;
      };
      const report = (result: SweepSummary | Error) => {
        opts.onRun?.(result);
        const late = skipped > 0 ? ` (${skipped} daily tick(s) skipped while it ran)` : '';
        skipped = 0;
        if (result instanceof Error) ctx.log(`requalification sweep failed: ${result.message}${late}`);
        else ctx.log(`requalification sweep as of ${result.asOf}: ${describeCounts(result)}${late}`);
      };
      const schedule = () => {
        if (stopped) return;
        const next = nextSweepAt(ctx.clock.now(), opts.time);
        const delay = Math.max(0, (next.getTime() - ctx.clock.now().getTime()) * realMsPerSimMs);
        timer = setTimeout(() => {
          if (running) skipped++;
          else sweep(next).then(report, (e: unknown) => report(e instanceof Error ? e : new Error(String(e))));
          schedule();
        }, delay);
        timer.unref();
      };
      schedule();

      const unregister = ctx.registerLocalRoute('POST', '/_local/sweep', async (req) => {
        const json = (status: number, body: unknown) => ({
          status,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(body),
        });
        const request = SweepRequest.safeParse(parseBody(req.body.toString('utf8')));
        if (!request.success)
          return json(400, { error: 'ValidationError', message: 'body must be {} or {"asOf": "<ISO-8601>"}' });
        if (running)
          return json(409, { error: 'SweepRunning', message: 'a sweep is already running; try again when it ends' });
        try {
          return json(200, await sweep(request.data.asOf ? new Date(request.data.asOf) : ctx.clock.now()));
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          return json(500, {
            error: 'SweepFailed',
            message,
            ...(e instanceof SweepExecutionError && e.summary && { summary: e.summary }),
          });
        }
      });
      const time = opts.time ?? DEFAULT_SWEEP_TIME;
      const hhmm = `${String(time.hour).padStart(2, '0')}:${String(time.minute).padStart(2, '0')}`;
      return {
        describe: [
          `requalification: daily at ${hhmm} simulated UTC (every ${ctx.daySeconds} s of real time); POST ${ctx.url}/_local/sweep or \`npm run leadloop -- sweep\` runs one now`,
        ],
        async stop() {
          stopped = true;
          if (timer) clearTimeout(timer);
          unregister();
          await running?.catch(() => undefined);
        },
      };
    },
  };
}

/** `reviewed 12, changed 3 (lead->dormant 2, mql->lead 1), actions stop_nurture 2, items read per lead 1.00`. */
export function describeCounts(summary: SweepSummary): string {
  const c = summary.counts;
  const list = (r: Record<string, number>) =>
    Object.entries(r)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const parts = [`reviewed ${c.reviewed}`, `changed ${c.changed}${c.changed ? ` (${list(c.transitions)})` : ''}`];
  if (Object.keys(c.actions).length > 0) parts.push(`nurture ${list(c.actions)}`);
  if (c.skipped) parts.push(`skipped ${c.skipped}`);
  if (c.actionFailures) parts.push(`nurture failures ${c.actionFailures}`);
  if (summary.failed) parts.push(`failed shards ${summary.failedShards.join(' ')}`);
  parts.push(`items read per lead ${summary.itemsReadPerLead.toFixed(2)}`);
  return parts.join(', ');
}

/** Runs one sweep now (for the CLI): the environment must point the handlers at the table first. */
export async function runSweepNow(opts: { asOf?: Date; clock?: Clock; region?: string } = {}): Promise<SweepSummary> {
  return (await runSweep(opts)).summary;
}
