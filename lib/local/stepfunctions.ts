import { randomUUID } from 'node:crypto';
import { StateMachine, type RunOptions } from 'aws-local-stepfunctions';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { Clock } from '../../lambdas/domain/clock.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { NurtureRun } from '../../lambdas/domain/nurture/enrollment.js';
import type { NurtureStart, NurtureStarter } from '../../lambdas/domain/nurture/ports.js';
import { lambdaContext } from './lambda-context.js';
import type { AslDefinition, AslState, SynthesizedNurture } from './nurture-synth.js';
import './promise-with-resolvers.js';

/**
 * Runs the synthesized nurture state machines locally with `aws-local-stepfunctions` (DESIGN §9): each Lambda task
 * is bound to its handler module and invoked in-process with a Lambda-like context, its result wrapped as the
 * optimized `lambda:invoke` integration returns it (`{ Payload, StatusCode: 200, … }`); waits follow the simulated
 * clock; every run keeps its state history (the local counterpart of the console's execution view).
 *
 * Two kinds of time:
 * - `scaled` (`npm start`): a wait of d simulated days lasts d × `daySeconds` real seconds; timestamp waits (the
 *   send window) last until the simulated clock reaches the timestamp.
 * - `virtual` (tests, benchmarks): waits take no real time; they move a settable clock to their end and, if asked,
 *   call `onWait` before the run goes on (how a test does something "during" a wait).
 */

type Overrides = NonNullable<RunOptions['overrides']>;
type LocalTaskHandler = NonNullable<Overrides['taskResourceLocalHandlers']>[string];
type JsonValue = Parameters<StateMachine['run']>[0];

/** A Lambda handler as the local runtime calls it. */
export type TaskHandler = (event: unknown, context: Context) => unknown;

export interface WaitInfo {
  executionName: string;
  track: string;
  state: string;
  /** The simulated instant the wait ends. */
  until: Date;
}

export type LocalTime =
  | { kind: 'scaled'; clock: Clock; daySeconds: number }
  | {
      kind: 'virtual';
      clock: Clock & { set(at: Date | string): void };
      onWait?: (wait: WaitInfo) => Promise<void> | void;
    };

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

/** One entry of a run's history. */
export interface HistoryEvent {
  id: number;
  /** `ExecutionStarted`, `StateEntered`, `StateExited`, `StateFailed`, `StateRetried`, `StateCaught`, `ExecutionSucceeded`, … */
  type: string;
  /** Simulated time. */
  at: string;
  state?: string;
  stateType?: string;
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
  /** When a Wait state is entered: the simulated instant it ends. */
  until?: string;
  /** Real time (epoch ms). */
  realAt: number;
}

export interface RunRecord {
  executionArn: string;
  name: string;
  track: string;
  stateMachineArn: string;
  input: string;
  status: RunStatus;
  /** Simulated time. */
  startedAt: string;
  stoppedAt?: string;
  /** Real time (epoch ms), as the Step Functions API reports it. */
  realStartedAt: number;
  realStoppedAt?: number;
  output?: unknown;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  /** States entered plus retries: what Step Functions Standard bills. */
  transitions: number;
}

export interface LocalNurtureRunnerOptions {
  synthesized: SynthesizedNurture;
  /** The handler of each task's module, by module name (`nurture-touch`, …). */
  handlers: Record<string, TaskHandler>;
  time: LocalTime;
  /** Task timeout, as Lambda's function timeout. @default 20 000 */
  taskTimeoutMs?: number;
  log?: (line: string) => void;
}

export class ExecutionAlreadyExistsError extends Error {
  override readonly name = 'ExecutionAlreadyExists';
}
export class ExecutionDoesNotExistError extends Error {
  override readonly name = 'ExecutionDoesNotExist';
}
export class StateMachineDoesNotExistError extends Error {
  override readonly name = 'StateMachineDoesNotExist';
}

/** An error a Lambda task raised, as Step Functions sees it: `Error` is its type, `Cause` the Lambda error JSON. */
class LambdaTaskError extends Error {
  constructor(errorType: string, cause: string) {
    super(cause);
    this.name = errorType;
  }
}

const MAX_TIMER_MS = 2_147_483_647;
const LambdaInvokeParameters = z.object({ FunctionName: z.string(), Payload: z.unknown() });

/** Reads a reference path (`$`, `$.a.b`) from a JSON document. */
function referencePath(doc: unknown, path: string): unknown {
  if (path === '$') return doc;
  if (!path.startsWith('$.')) throw new Error(`unsupported path ${path}`);
  let cur: unknown = doc;
  for (const key of path.slice(2).split('.')) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, key)) return undefined;
    const next: unknown = Reflect.get(cur, key);
    cur = next;
  }
  return cur;
}

interface LiveRun {
  record: RunRecord;
  abort: () => void;
  settled: Promise<RunRecord>;
  /** The last task's payload: the input of the states that follow it (every task has `OutputPath: $.Payload`). */
  lastTaskOutput: unknown;
  pendingWaitHooks: Promise<void>[];
  /** Waits started (simulated start and end), per Wait state, until the history records them. */
  waitEnds: Map<string, { start: Date; until: Date }[]>;
  /** Virtual time: the simulated time of the history as it is recorded (events are read after the fact). */
  cursor: Date;
}

/** The local Step Functions for nurture: starts, stops and records runs of the synthesized state machines. */
export class LocalNurtureRunner implements NurtureStarter {
  private readonly runs = new Map<string, LiveRun>();
  private readonly machines = new Map<
    string,
    { track: string; arn: string; definition: AslDefinition; sm: StateMachine }
  >();
  private nextEventId = 1;

  constructor(private readonly opts: LocalNurtureRunnerOptions) {
    for (const m of Object.values(opts.synthesized.machines)) {
      // Waits are driven by the simulated clock and a run may last months: no machine-level timeout locally.
      const definition = structuredClone(m.definition);
      delete definition.TimeoutSeconds;
      for (const [name, state] of Object.entries(definition.States)) {
        if (state.Type === 'Task' && !String(state.Resource).endsWith(':states:::lambda:invoke')) {
          throw new Error(`state "${name}" of track "${m.track}": only the lambda:invoke integration runs locally`);
        }
      }
      // The library validates the definition (asl-validator) on construction; its type is the ASL schema.
      const sm = new StateMachine(structuredClone(definition) as ConstructorParameters<typeof StateMachine>[0]);
      this.machines.set(m.arn, { track: m.track, arn: m.arn, definition, sm });
    }
    for (const fn of Object.values(opts.synthesized.functions)) {
      if (!opts.handlers[fn.handlerName]) throw new Error(`no local handler for ${fn.handlerName} (${fn.logicalId})`);
    }
  }

  /** The local ARN of each track's state machine. */
  stateMachineArns(): Record<string, string> {
    return Object.fromEntries([...this.machines.values()].map((m) => [m.track, m.arn]));
  }

  /** Name, ARN and definition of each state machine. */
  stateMachines(): { track: string; arn: string; definition: AslDefinition }[] {
    return [...this.machines.values()].map(({ track, arn, definition }) => ({ track, arn, definition }));
  }

  /** NurtureStarter: a name that was ever started is `already_running` (Step Functions keeps names 90 days). */
  async start(input: NurtureStart): Promise<'started' | 'already_running'> {
    const arn = this.stateMachineArns()[input.track];
    if (!arn) throw new StateMachineDoesNotExistError(`no nurture state machine for track "${input.track}"`);
    if (this.runs.has(input.executionName)) return 'already_running';
    try {
      this.startExecution(arn, input.executionName, JSON.stringify({ leadId: input.leadId, track: input.track }));
      return 'started';
    } catch (e) {
      if (e instanceof ExecutionAlreadyExistsError) return 'already_running';
      throw e;
    }
  }

  async stop(run: NurtureRun): Promise<'stopped' | 'not_running'> {
    const live = this.runs.get(run.executionName);
    if (!live || live.record.status !== 'RUNNING') return 'not_running';
    live.abort();
    await live.settled;
    return 'stopped';
  }

  /**
   * StartExecution semantics: a new name starts a run; the same name with the same input while it runs returns that
   * run; anything else is ExecutionAlreadyExists.
   */
  startExecution(stateMachineArn: string, name: string, input: string): RunRecord {
    const machine = this.machines.get(stateMachineArn);
    if (!machine) throw new StateMachineDoesNotExistError(`state machine does not exist: ${stateMachineArn}`);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new Error(`invalid execution name "${name}"`);
    const existing = this.runs.get(name);
    if (existing) {
      if (
        existing.record.status === 'RUNNING' &&
        existing.record.input === input &&
        existing.record.stateMachineArn === stateMachineArn
      ) {
        return existing.record;
      }
      throw new ExecutionAlreadyExistsError(`Execution Already Exists: '${name}'`);
    }
    const parsedInput: JsonValue = JSON.parse(input);
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const now = () => this.opts.time.clock.now().toISOString();
    const record: RunRecord = {
      executionArn,
      name,
      track: machine.track,
      stateMachineArn,
      input,
      status: 'RUNNING',
      startedAt: now(),
      realStartedAt: Date.now(),
      history: [],
      transitions: 0,
    };
    const live: LiveRun = {
      record,
      abort: () => undefined,
      settled: Promise.resolve(record),
      lastTaskOutput: parsedInput,
      pendingWaitHooks: [],
      waitEnds: new Map(),
      cursor: this.opts.time.clock.now(),
    };
    const virtual = this.opts.time.kind === 'virtual';
    /** When an event happened, in simulated time: in virtual time the clock has moved on by the time it is read. */
    const at = (): string => (virtual ? live.cursor.toISOString() : now());
    const execution = machine.sm.run(parsedInput, {
      noThrowOnAbort: true,
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          RoleArn: `arn:aws:iam::${this.opts.synthesized.account}:role/local`,
        },
        StateMachine: { Id: stateMachineArn, Name: stateMachineArn.split(':').pop() ?? '' },
      },
      overrides: {
        taskResourceLocalHandlers: this.taskHandlers(machine.definition, live),
        waitTimeOverrides: this.waitOverrides(machine.definition, live),
        ...(this.opts.time.kind === 'virtual'
          ? { retryIntervalOverrides: this.instantRetries(machine.definition) }
          : {}),
      },
    });
    live.abort = execution.abort;
    const history = (async () => {
      for await (const ev of execution.eventLogs) {
        // Wait states carry their own simulated start and end; other events are stamped as they are read.
        const wait =
          ev.type === 'StateEntered' && ev.state.type === 'Wait'
            ? live.waitEnds.get(ev.state.name)?.shift()
            : undefined;
        const waited =
          ev.type === 'StateExited' && ev.state.type === 'Wait'
            ? [...record.history].reverse().find((h) => h.type === 'StateEntered' && h.state === ev.state.name)?.until
            : undefined;
        if (wait) live.cursor = wait.start;
        if (waited) live.cursor = new Date(waited);
        const stamp = wait ? wait.start.toISOString() : (waited ?? at());
        const base = { id: this.nextEventId++, type: ev.type, at: stamp, realAt: ev.timestamp };
        switch (ev.type) {
          case 'ExecutionStarted':
            record.history.push({ ...base, input: ev.input });
            break;
          case 'StateEntered': {
            record.transitions++;
            record.history.push({
              ...base,
              state: ev.state.name,
              stateType: ev.state.type,
              input: ev.state.input,
              ...(wait ? { until: wait.until.toISOString() } : {}),
            });
            break;
          }
          case 'StateExited':
            record.history.push({ ...base, state: ev.state.name, stateType: ev.state.type, output: ev.state.output });
            break;
          case 'StateRetried':
            record.transitions++;
            record.history.push({ ...base, state: ev.state.name, stateType: ev.state.type });
            break;
          case 'StateFailed':
            record.history.push({
              ...base,
              state: ev.state.name,
              stateType: ev.state.type,
              error: ev.Error,
              cause: String(ev.Cause),
            });
            break;
          case 'StateCaught':
            record.history.push({ ...base, state: ev.state.name, stateType: ev.state.type });
            break;
          case 'ExecutionSucceeded':
            record.history.push({ ...base, output: ev.output });
            break;
          case 'ExecutionFailed':
            record.error = ev.Error;
            record.cause = String(ev.Cause);
            record.history.push({ ...base, error: ev.Error, cause: String(ev.Cause) });
            break;
          default:
            record.history.push(base);
        }
      }
    })();
    live.settled = (async () => {
      const outcome = await execution.result.then(
        (output) => ({ ok: true as const, output }),
        () => ({ ok: false as const }),
      );
      await history;
      if (record.history.some((h) => h.type === 'ExecutionAborted')) record.status = 'ABORTED';
      else if (outcome.ok) {
        record.status = 'SUCCEEDED';
        record.output = outcome.output;
      } else record.status = 'FAILED';
      record.stoppedAt = at();
      record.realStoppedAt = Date.now();
      this.opts.log?.(`nurture run ${name} (${machine.track}) ${record.status.toLowerCase()}`);
      return record;
    })();
    this.runs.set(name, live);
    return record;
  }

  /** Stops a run by execution ARN (StopExecution). */
  async stopExecution(executionArn: string): Promise<RunRecord> {
    const live = [...this.runs.values()].find((r) => r.record.executionArn === executionArn);
    if (!live) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    if (live.record.status === 'RUNNING') {
      live.abort();
      await live.settled;
    }
    return live.record;
  }

  /** Every run, newest first. */
  list(): RunRecord[] {
    return [...this.runs.values()].map((r) => r.record).sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /** A run by execution name or ARN. */
  get(nameOrArn: string): RunRecord | undefined {
    return (
      this.runs.get(nameOrArn)?.record ??
      [...this.runs.values()].find((r) => r.record.executionArn === nameOrArn)?.record
    );
  }

  /** Resolves when the run has ended (succeeded, failed or aborted). */
  async settled(name: string): Promise<RunRecord> {
    const live = this.runs.get(name);
    if (!live) throw new ExecutionDoesNotExistError(`no run named ${name}`);
    return live.settled;
  }

  /** Resolves when every run started so far has ended. */
  async idle(): Promise<void> {
    await Promise.all([...this.runs.values()].map((r) => r.settled));
  }

  /** Aborts every running run (shutdown). */
  async stopAll(): Promise<void> {
    const running = [...this.runs.values()].filter((r) => r.record.status === 'RUNNING');
    for (const r of running) r.abort();
    await Promise.all(running.map((r) => r.settled));
  }

  private taskHandlers(definition: AslDefinition, live: LiveRun): Record<string, LocalTaskHandler> {
    const handlers: Record<string, LocalTaskHandler> = {};
    for (const [stateName, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task') continue;
      handlers[stateName] = async (input) => {
        const params = LambdaInvokeParameters.parse(input);
        const fn = this.opts.synthesized.functions[params.FunctionName];
        if (!fn)
          throw new LambdaTaskError('Lambda.ResourceNotFoundException', `Function not found: ${params.FunctionName}`);
        const handler = this.opts.handlers[fn.handlerName];
        if (!handler)
          throw new LambdaTaskError('Lambda.ResourceNotFoundException', `no local handler for ${fn.handlerName}`);
        // What a test does "during" the wait before this task happens before the task sees the lead.
        const hooks = live.pendingWaitHooks.splice(0);
        await Promise.all(hooks);
        const requestId = randomUUID();
        const context = lambdaContext({
          functionName: fn.logicalId,
          region: this.opts.synthesized.region,
          timeoutMs: this.opts.taskTimeoutMs ?? 20_000,
          requestId,
        });
        let payload: JsonValue;
        try {
          // Lambda serializes the result: undefined fields vanish, dates become strings.
          const result = await handler(params.Payload, context);
          payload = result === undefined ? null : JSON.parse(JSON.stringify(result));
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          throw new LambdaTaskError(
            err.name,
            JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') }),
          );
        }
        live.lastTaskOutput = payload;
        return {
          ExecutedVersion: '$LATEST',
          Payload: payload,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: requestId },
          StatusCode: 200,
        };
      };
    }
    return handlers;
  }

  /** Wait durations, computed when the wait starts (a Proxy: the runner reads the override at that moment). */
  private waitOverrides(definition: AslDefinition, live: LiveRun): Record<string, number> {
    const waits = new Map<string, AslState>(Object.entries(definition.States).filter(([, s]) => s.Type === 'Wait'));
    const time = this.opts.time;
    return new Proxy<Record<string, number>>(
      {},
      {
        get: (_target, prop) => {
          if (typeof prop !== 'string') return undefined;
          const state = waits.get(prop);
          if (!state) return undefined;
          const now = time.clock.now();
          const until = waitEnd(state, live.lastTaskOutput, now);
          live.waitEnds.set(prop, [...(live.waitEnds.get(prop) ?? []), { start: now, until }]);
          if (time.kind === 'virtual') {
            if (until.getTime() > now.getTime()) time.clock.set(until);
            const hook = time.onWait?.({
              executionName: live.record.name,
              track: live.record.track,
              state: prop,
              until,
            });
            if (hook) live.pendingWaitHooks.push(hook);
            return 0;
          }
          const realMs = ((until.getTime() - now.getTime()) * time.daySeconds * 1000) / DAY_MS;
          return Math.min(MAX_TIMER_MS, Math.max(0, Math.round(realMs)));
        },
      },
    );
  }

  private instantRetries(definition: AslDefinition): Record<string, number> {
    return Object.fromEntries(
      Object.entries(definition.States)
        .filter(([, s]) => Array.isArray(s.Retry))
        .map(([name]) => [name, 1]),
    );
  }
}

/** The simulated instant a Wait state ends, from `Seconds`, `Timestamp`, or a path into its input. */
function waitEnd(state: AslState, input: unknown, now: Date): Date {
  const seconds = (s: unknown) => new Date(now.getTime() + z.number().nonnegative().parse(s) * 1000);
  const timestamp = (t: unknown) => new Date(z.iso.datetime({ offset: true }).parse(t));
  if (state.Seconds !== undefined) return seconds(state.Seconds);
  if (state.Timestamp !== undefined) return timestamp(state.Timestamp);
  if (typeof state.SecondsPath === 'string') return seconds(referencePath(input, state.SecondsPath));
  if (typeof state.TimestampPath === 'string') return timestamp(referencePath(input, state.TimestampPath));
  throw new Error('Wait state without a duration');
}
