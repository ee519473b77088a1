import { randomUUID } from 'node:crypto';
import aslValidator from 'asl-validator';
import { StateMachine, type RunOptions } from 'aws-local-stepfunctions';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import type { Clock } from '../../lambdas/domain/clock.js';
import { DAY_MS } from '../../lambdas/domain/clock.js';
import type { InvokeResult } from './lambda.js';
import './promise-with-resolvers.js';

/**
 * The one local state-machine runner (DESIGN §9): every state machine of the synthesized template (the nurture
 * tracks, "Requalify leads") runs here with `aws-local-stepfunctions`, its Lambda tasks invoked through one invoker
 * (the local Lambda runtime under `npm start`; in-process handlers in workflow tests), each result wrapped as the
 * optimized `lambda:invoke` integration returns it (`{ Payload, StatusCode: 200, … }`) and each function error raised
 * as Step Functions raises it (error = the function's error type, cause = its error JSON); waits follow the simulated
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

/** Invokes a Lambda function (by the ARN a definition names) with a payload. */
export type LambdaInvoker = (functionArn: string, payload: unknown) => Promise<InvokeResult>;

/** An ASL definition as JSON. */
export type AslDefinition = {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
};
export type AslState = { Type: string; Resource?: string; [field: string]: unknown };

/** A state machine to run: its ARN, its definition, and (for nurture) the track it runs. */
export interface LocalMachine {
  arn: string;
  definition: AslDefinition;
  /** The nurture track (its tag), if it is one. */
  track?: string;
}

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
  /** The nurture track, or the state machine's name for other machines. */
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

export interface LocalStepFunctionsOptions {
  machines: readonly LocalMachine[];
  invoke: LambdaInvoker;
  time: LocalTime;
  /** The account in the execution context's role ARN. @default 000000000000 */
  account?: string;
  /** Instead of each Retry's own intervals (tests). @default the definition's, scaled like waits */
  retryIntervalMs?: number;
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
export class LambdaTaskError extends Error {
  constructor(errorType: string, cause: string) {
    super(cause);
    this.name = errorType;
  }
}

const MAX_TIMER_MS = 2_147_483_647;
const LambdaInvokeParameters = z.object({ FunctionName: z.string(), Payload: z.unknown() });
const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke$/;

/** Every state of a definition, nested Map and Parallel states included, by name. */
export function allStates(definition: unknown): [string, AslState][] {
  const out: [string, AslState][] = [];
  const visit = (machine: unknown) => {
    if (typeof machine !== 'object' || machine === null || !('States' in machine)) return;
    const states = machine.States;
    if (typeof states !== 'object' || states === null) return;
    for (const [name, raw] of Object.entries(states)) {
      const state = z.object({ Type: z.string() }).loose().parse(raw) as AslState;
      out.push([name, state]);
      visit(state.ItemProcessor ?? state.Iterator);
      if (Array.isArray(state.Branches)) state.Branches.forEach(visit);
    }
  };
  visit(definition);
  return out;
}

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

/** The local Step Functions: starts, stops and records runs of the synthesized state machines. */
export class LocalStepFunctions {
  private readonly runs = new Map<string, LiveRun>();
  private readonly machines = new Map<
    string,
    { track: string; arn: string; definition: AslDefinition; sm: StateMachine }
  >();
  private nextEventId = 1;

  constructor(private readonly opts: LocalStepFunctionsOptions) {
    for (const m of opts.machines) {
      // Waits are driven by the simulated clock and a run may last months: no machine-level timeout locally.
      const definition = structuredClone(m.definition);
      delete definition.TimeoutSeconds;
      for (const [name, state] of allStates(definition)) {
        if (state.Type === 'Task' && !LAMBDA_INVOKE.test(String(state.Resource))) {
          throw new Error(`state "${name}" of ${m.arn}: only the lambda:invoke integration runs locally`);
        }
      }
      // The library validates the definition (asl-validator) on construction; its type is the ASL schema.
      const sm = new StateMachine(structuredClone(definition) as ConstructorParameters<typeof StateMachine>[0]);
      this.machines.set(m.arn, { track: m.track ?? m.arn.split(':').pop() ?? m.arn, arn: m.arn, definition, sm });
    }
  }

  /** The ARN of each nurture track's state machine. */
  stateMachineArns(): Record<string, string> {
    return Object.fromEntries([...this.machines.values()].map((m) => [m.track, m.arn]));
  }

  /** Name, ARN and definition of each state machine. */
  stateMachines(): { track: string; arn: string; definition: AslDefinition }[] {
    return [...this.machines.values()].map(({ track, arn, definition }) => ({ track, arn, definition }));
  }

  /** Starts a run of a track's state machine (tests): the execution input nurture runs start with. */
  startTrack(input: {
    leadId: string;
    track: string;
    executionName: string;
    arm?: string;
    experimentId?: string;
  }): RunRecord {
    const arn = this.stateMachineArns()[input.track];
    if (!arn) throw new StateMachineDoesNotExistError(`no nurture state machine for track "${input.track}"`);
    const experiment = input.arm !== undefined ? { arm: input.arm, experimentId: input.experimentId } : {};
    return this.startExecution(
      arn,
      input.executionName,
      JSON.stringify({ leadId: input.leadId, track: input.track, ...experiment }),
    );
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
          Input: parsedInput,
          StartTime: record.startedAt,
          RoleArn: `arn:aws:iam::${this.opts.account ?? '000000000000'}:role/local`,
        },
        StateMachine: { Id: stateMachineArn, Name: stateMachineArn.split(':').pop() ?? '' },
      },
      overrides: {
        taskResourceLocalHandlers: this.taskHandlers(machine.definition, live),
        waitTimeOverrides: this.waitOverrides(machine.definition, live),
        ...(this.opts.time.kind === 'virtual' || this.opts.retryIntervalMs !== undefined
          ? { retryIntervalOverrides: this.retryOverrides(machine.definition, this.opts.retryIntervalMs ?? 1) }
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
      this.opts.log?.(`run ${name} (${machine.track}) ${record.status.toLowerCase()}`);
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
    for (const [stateName, state] of allStates(definition)) {
      if (state.Type !== 'Task') continue;
      handlers[stateName] = async (input) => {
        const params = LambdaInvokeParameters.parse(input);
        // What a test does "during" the wait before this task happens before the task sees the lead.
        const hooks = live.pendingWaitHooks.splice(0);
        await Promise.all(hooks);
        const result = await this.opts.invoke(params.FunctionName, params.Payload);
        if (!result.ok) {
          const lambdaService = ['ResourceNotFoundException', 'ServiceException', 'TooManyRequestsException'];
          throw new LambdaTaskError(
            lambdaService.includes(result.errorType) ? `Lambda.${result.errorType}` : result.errorType,
            JSON.stringify({ errorType: result.errorType, errorMessage: result.errorMessage, trace: result.trace }),
          );
        }
        const payload: JsonValue = JSON.parse(JSON.stringify(result.payload ?? null));
        live.lastTaskOutput = payload;
        return {
          ExecutedVersion: '$LATEST',
          Payload: payload,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: randomUUID() },
          StatusCode: 200,
        };
      };
    }
    return handlers;
  }

  /** Wait durations, computed when the wait starts (a Proxy: the runner reads the override at that moment). */
  private waitOverrides(definition: AslDefinition, live: LiveRun): Record<string, number> {
    const waits = new Map<string, AslState>(allStates(definition).filter(([, s]) => s.Type === 'Wait'));
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

  private retryOverrides(definition: AslDefinition, ms: number): Record<string, number> {
    return Object.fromEntries(
      allStates(definition)
        .filter(([, s]) => Array.isArray(s.Retry))
        .map(([name]) => [name, ms]),
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

/** asl-validator's findings on a definition (empty when valid). It annotates what it checks, so it gets a copy. */
export function aslProblems(definition: AslDefinition): string[] {
  const result = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  return result.isValid ? [] : result.errors.map((e) => e.message);
}
