import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  ThrottlingException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import type {
  HttpRequest,
  FinalizeHandler,
  FinalizeHandlerArguments,
  FinalizeHandlerOutput,
  HandlerExecutionContext,
  MetadataBearer,
  MiddlewareStack,
} from '@smithy/types';
import { SESv2ServiceException, TooManyRequestsException } from '@aws-sdk/client-sesv2';
import { SFNServiceException } from '@aws-sdk/client-sfn';
import { Readable } from 'node:stream';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead, type Lead, type StageTransition } from '../../lambdas/domain/lead.js';
import { applyEvents, defaultModel, type ScoringModel } from '../../lambdas/domain/scoring/index.js';

/**
 * Fault injection for AWS SDK v3 clients, as SDK middleware (issue 7 §3). Installed in the `finalizeRequest` step
 * below the SDK's retry middleware, it sees every attempt of every call and can fail an attempt the way the service
 * or the network would:
 *
 * - `throttle`: `ProvisionedThroughputExceededException` / `ThrottlingException` (`$retryable.throttling`), which the
 *   standard retry strategy retries with its throttling backoff;
 * - `server`: a 500 `InternalServerError`, retried as a transient error;
 * - `timeout`: the request never reached the service (`TimeoutError`), retried;
 * - `lostResponse`: the request reached the service and was applied, then the response was lost (`TimeoutError`),
 *   so the retry meets its own earlier write (conditional writes see "already there");
 * - `conflict`: `TransactionCanceledException` with a `TransactionConflict` reason, for `TransactWriteItems` only.
 *   The SDK does not retry it: the caller has to.
 *
 * Draws come from a seeded PRNG, so a run's sequence of decisions is fixed by its seed (which request receives which
 * draw still depends on scheduling when calls run concurrently).
 *
 * Mind the SDK's retry quota: each client holds 500 tokens, a retry after a 5xx or timeout costs 14 and one after
 * throttling 5, a first-attempt success earns 1 back and a retried success its cost. A sustained fault rate much above
 * ~15% (or 100% on many calls at once) empties it, after which the client stops retrying and calls fail at once —
 * as it would against a badly degraded service. Use a fresh client (a fresh handler import) per scenario.
 */

export type FaultKind = 'throttle' | 'server' | 'timeout' | 'lostResponse' | 'conflict';
export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'server', 'timeout', 'lostResponse', 'conflict'];

/** One attempt of an SDK call, as the fault middleware sees it. */
export interface Call {
  /** e.g. `DynamoDBClient` */
  client: string;
  /** e.g. `TransactWriteItemsCommand` */
  command: string;
  /** The command's input as serialized for the wire (DocumentClient commands arrive marshalled). */
  input: unknown;
  /** 1 for the first attempt, then 2, 3, … (the SDK's `amz-sdk-request` header). */
  attempt: number;
}

export interface FaultOptions {
  /** Seed of the PRNG that decides which attempts fail and how. */
  seed: number;
  /** Probability that an eligible attempt fails (0…1). */
  rate: number;
  /** Relative weights of the kinds of fault; a kind left out is never injected. @default every kind, weight 1 */
  kinds?: Partial<Record<FaultKind, number>>;
  /** Which attempts may fail. @default all */
  select?: (call: Call) => boolean;
  /** At most this many injected faults per call (so a call with enough retries eventually succeeds). @default no limit */
  maxFaultsPerCall?: number;
  /** At most this many injected faults in all. @default no limit */
  maxFaults?: number;
  /** At most this many distinct calls see faults (the first ones drawn). @default no limit */
  maxCalls?: number;
  /** How long a `timeout` / `lostResponse` attempt waits before failing. @default 5 */
  timeoutMs?: number;
}

/** One attempt of a call that saw at least one injected fault. */
export interface AttemptRecord {
  attempt: number;
  /** performance.now() when the attempt reached the middleware. */
  at: number;
  fault?: FaultKind;
  /** The name of a genuine error the attempt ended with (not injected). */
  error?: string;
}

/** A call (one `send`, all its attempts) that saw at least one injected fault. */
export interface FaultedCall {
  id: string;
  command: string;
  attempts: AttemptRecord[];
  /** True once an attempt of this call succeeded. */
  recovered: boolean;
}

export interface FaultStats {
  /** Attempts that reached the middleware while it was enabled. */
  attempts: number;
  injected: Record<FaultKind, number>;
  /** Calls that saw an injected fault. */
  faultedCalls: number;
  /** …of which a later attempt succeeded (the SDK's retry with backoff worked). */
  recoveredCalls: number;
  /** …of which a later attempt met a genuine error, e.g. a conditional check failing on the call's own earlier write. */
  genuineErrorCalls: number;
  /** …of which the injected fault reached the caller (not retryable, retries or retry quota exhausted). */
  surfacedCalls: number;
}

export interface FaultInjector {
  readonly name: string;
  /** Counters since install (or the last `reset`). */
  stats(): FaultStats;
  /** Every call that saw an injected fault, with the timing of its attempts. */
  faultedCalls(): FaultedCall[];
  /** Changes the fault rate from now on. */
  setRate(rate: number): void;
  /** Stops injecting (and counting) until `resume`. */
  pause(): void;
  resume(): void;
  reset(): void;
  /** Takes the middleware off the client's stack. */
  remove(): void;
}

/** A small deterministic PRNG (mulberry32): numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** The SDK's invocation id and attempt number, from the headers its retry middleware sets on every attempt. */
function attemptOf(request: unknown): { id: string; attempt: number } | undefined {
  if (!isRecord(request) || !isRecord(request.headers)) return undefined;
  const id = request.headers['amz-sdk-invocation-id'];
  const header = request.headers['amz-sdk-request'];
  if (typeof id !== 'string' || typeof header !== 'string') return undefined;
  const attempt = /attempt=(\d+)/.exec(header)?.[1];
  return { id, attempt: attempt === undefined ? 1 : Number(attempt) };
}

const transactItemCount = (input: unknown): number =>
  isRecord(input) && Array.isArray(input.TransactItems) ? input.TransactItems.length : 0;

/** A service error for clients other than DynamoDB, shaped as the SDK's ServiceException. */
class InjectedServiceError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly $fault: 'client' | 'server',
    readonly $metadata: { httpStatusCode: number },
    readonly $retryable?: { throttling: boolean },
  ) {
    super(message);
  }
}

const timeoutError = (ms: number): Error =>
  Object.assign(new Error(`Connection timed out after ${ms} ms`), { name: 'TimeoutError' });

/** SES v2's and Step Functions' own errors, as their clients raise them (the adapters tell them apart by class). */
function serviceFault(client: string, kind: 'throttle' | 'server'): Error | undefined {
  const $metadata = { httpStatusCode: kind === 'throttle' ? 429 : 500 };
  if (client === 'SESv2Client') {
    return kind === 'throttle'
      ? new TooManyRequestsException({ message: 'Too many requests', $metadata })
      : new SESv2ServiceException({
          name: 'InternalFailure',
          $fault: 'server',
          message: 'Internal failure',
          $metadata,
        });
  }
  if (client === 'SFNClient') {
    const error = new SFNServiceException({
      name: kind === 'throttle' ? 'ThrottlingException' : 'InternalFailure',
      $fault: kind === 'throttle' ? 'client' : 'server',
      message: kind === 'throttle' ? 'Rate exceeded' : 'Internal failure',
      $metadata: { httpStatusCode: kind === 'throttle' ? 400 : 500 },
    });
    if (kind === 'throttle') error.$retryable = { throttling: true };
    return error;
  }
  return undefined;
}

/** The error an attempt fails with, as the service (or the HTTP handler) would raise it. */
function faultError(kind: FaultKind, call: Call, rnd: () => number, timeoutMs: number): Error {
  const dynamo = call.client === 'DynamoDBClient';
  if ((kind === 'throttle' || kind === 'server') && !dynamo) {
    const own = serviceFault(call.client, kind);
    if (own) return own;
  }
  const requestId = `injected-${Math.floor(rnd() * 1e9).toString(36)}`;
  switch (kind) {
    case 'throttle': {
      if (!dynamo) {
        return new InjectedServiceError(
          'ThrottlingException',
          'Rate exceeded',
          'client',
          { httpStatusCode: 400 },
          { throttling: true },
        );
      }
      const $metadata = { httpStatusCode: 400, requestId };
      const error =
        rnd() < 0.5
          ? new ProvisionedThroughputExceededException({
              message:
                'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
              $metadata,
            })
          : new ThrottlingException({
              message: 'Throughput exceeds the current capacity of your table or index.',
              $metadata,
            });
      error.$retryable = { throttling: true };
      return error;
    }
    case 'server':
      return dynamo
        ? new InternalServerError({ message: 'Internal server error', $metadata: { httpStatusCode: 500, requestId } })
        : new InjectedServiceError('InternalFailure', 'Internal failure', 'server', { httpStatusCode: 500 });
    case 'timeout':
    case 'lostResponse':
      return timeoutError(timeoutMs);
    case 'conflict': {
      const n = Math.max(1, transactItemCount(call.input));
      const at = Math.floor(rnd() * n);
      const reasons = Array.from({ length: n }, (_, i) =>
        i === at ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' },
      );
      return new TransactionCanceledException({
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        CancellationReasons: reasons,
        $metadata: { httpStatusCode: 400, requestId },
      });
    }
  }
}

const emptyCounts = (): Record<FaultKind, number> => ({
  throttle: 0,
  server: 0,
  timeout: 0,
  lostResponse: 0,
  conflict: 0,
});

let installed = 0;

/**
 * Installs fault injection on an SDK v3 client (e.g. `runtime.dynamoDb`; a DocumentClient built on it shares its
 * stack). Returns a handle to read what happened and to remove the middleware again.
 */
export function installFaults<I extends object, O extends MetadataBearer>(
  client: { middlewareStack: MiddlewareStack<I, O> },
  options: FaultOptions,
): FaultInjector {
  const name = `leadloopFaults${++installed}`;
  const rnd = seededRandom(options.seed);
  const weights = FAULT_KINDS.map((k) => [k, options.kinds ? (options.kinds[k] ?? 0) : 1] as const).filter(
    ([, w]) => w > 0,
  );
  const timeoutMs = options.timeoutMs ?? 5;
  let rate = options.rate;
  let enabled = true;
  let attempts = 0;
  let injected = emptyCounts();
  let calls = new Map<string, FaultedCall>();
  const faultsPerCall = new Map<string, number>();

  const pickKind = (call: Call): FaultKind | undefined => {
    const usable = weights.filter(([k]) => k !== 'conflict' || call.command === 'TransactWriteItemsCommand');
    const total = usable.reduce((s, [, w]) => s + w, 0);
    if (total <= 0) return undefined;
    let x = rnd() * total;
    for (const [k, w] of usable) {
      x -= w;
      if (x < 0) return k;
    }
    return usable[usable.length - 1]?.[0];
  };

  const middleware =
    (next: FinalizeHandler<I, O>, context: HandlerExecutionContext): FinalizeHandler<I, O> =>
    async (args: FinalizeHandlerArguments<I>): Promise<FinalizeHandlerOutput<O>> => {
      if (!enabled) return next(args);
      attempts++;
      const where = attemptOf(args.request);
      const call: Call = {
        client: context.clientName ?? 'unknown',
        command: context.commandName ?? 'unknown',
        input: args.input,
        attempt: where?.attempt ?? 1,
      };
      const id = where?.id ?? `call-${attempts}`;
      const already = faultsPerCall.get(id) ?? 0;
      const total = FAULT_KINDS.reduce((sum, k) => sum + injected[k], 0);
      const eligible =
        (options.select?.(call) ?? true) &&
        (options.maxFaultsPerCall === undefined || already < options.maxFaultsPerCall) &&
        (options.maxFaults === undefined || total < options.maxFaults) &&
        (options.maxCalls === undefined || faultsPerCall.has(id) || faultsPerCall.size < options.maxCalls);
      const kind = eligible && rnd() < rate ? pickKind(call) : undefined;
      const record: AttemptRecord = { attempt: call.attempt, at: performance.now(), ...(kind && { fault: kind }) };
      let faulted = calls.get(id);
      if (kind) {
        injected[kind]++;
        faultsPerCall.set(id, already + 1);
        faulted ??= { id, command: call.command, attempts: [], recovered: false };
        calls.set(id, faulted);
      }
      faulted?.attempts.push(record);
      if (kind === 'timeout') {
        await new Promise((r) => setTimeout(r, timeoutMs));
        throw faultError(kind, call, rnd, timeoutMs);
      }
      if (kind && kind !== 'lostResponse') throw faultError(kind, call, rnd, timeoutMs);
      let result: FinalizeHandlerOutput<O>;
      try {
        result = await next(args);
      } catch (e) {
        if (e instanceof Error) record.error = e.name;
        if (kind === 'lostResponse') throw faultError(kind, call, rnd, timeoutMs);
        throw e;
      }
      if (kind === 'lostResponse') {
        await new Promise((r) => setTimeout(r, timeoutMs));
        throw faultError(kind, call, rnd, timeoutMs);
      }
      if (faulted) faulted.recovered = true;
      return result;
    };

  client.middlewareStack.add(middleware, { step: 'finalizeRequest', name, tags: ['FAULT_INJECTION'] });

  return {
    name,
    stats: () => {
      const all = [...calls.values()];
      const last = (c: FaultedCall) => c.attempts[c.attempts.length - 1];
      return {
        attempts,
        injected: { ...injected },
        faultedCalls: all.length,
        recoveredCalls: all.filter((c) => c.recovered).length,
        genuineErrorCalls: all.filter((c) => !c.recovered && last(c)?.fault === undefined).length,
        surfacedCalls: all.filter((c) => !c.recovered && last(c)?.fault !== undefined).length,
      };
    },
    faultedCalls: () => [...calls.values()].map((c) => ({ ...c, attempts: [...c.attempts] })),
    setRate: (r) => {
      rate = r;
    },
    pause: () => {
      enabled = false;
    },
    resume: () => {
      enabled = true;
    },
    reset: () => {
      attempts = 0;
      injected = emptyCounts();
      calls = new Map();
      faultsPerCall.clear();
    },
    remove: () => {
      enabled = false;
      client.middlewareStack.remove(name);
    },
  };
}

const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'TransactWriteItemsCommand',
  'BatchWriteItemCommand',
]);

/** The SDK calls a client made, as recorded by {@link recordCalls}. */
export interface CallRecorder {
  /** Every call since install (or `clear`), first attempt only. */
  calls(): { command: string; input: unknown }[];
  /** The calls that write to DynamoDB (put, update, delete, transact or batch write). */
  writes(): { command: string; input: unknown }[];
  clear(): void;
  remove(): void;
}

/**
 * Records the calls a client makes (a spy, not a fault): e.g. to prove that a rejected request wrote nothing, exactly,
 * without counting items in a table that other tests share.
 */
export function recordCalls<I extends object, O extends MetadataBearer>(client: {
  middlewareStack: MiddlewareStack<I, O>;
}): CallRecorder {
  const name = `leadloopCallRecorder${++installed}`;
  let calls: { command: string; input: unknown }[] = [];
  client.middlewareStack.add(
    (next: FinalizeHandler<I, O>, context: HandlerExecutionContext): FinalizeHandler<I, O> =>
      async (args: FinalizeHandlerArguments<I>): Promise<FinalizeHandlerOutput<O>> => {
        if ((attemptOf(args.request)?.attempt ?? 1) === 1)
          calls.push({ command: context.commandName ?? 'unknown', input: args.input });
        return next(args);
      },
    { step: 'finalizeRequest', name, tags: ['CALL_RECORDER'] },
  );
  return {
    calls: () => [...calls],
    writes: () => calls.filter((c) => WRITE_COMMANDS.has(c.command)),
    clear: () => {
      calls = [];
    },
    remove: () => {
      client.middlewareStack.remove(name);
    },
  };
}

/** The pauses between consecutive attempts of a call (ms), in attempt order. */
export const retryGaps = (call: FaultedCall): number[] =>
  call.attempts.slice(1).map((a, i) => a.at - (call.attempts[i]?.at ?? a.at));

/**
 * How a stored lead differs from the fault-free reference: the same lead created afresh and scored in one go, with
 * `applyEvents`, from exactly the events marked applied, as of the stored `scoredAt`. Empty when they agree. Checks
 * the parts a half-done or doubled write would break: scores (and their explanation), stage and its history, profile,
 * consent, suppression, timestamps, and a version that counts at most one write per applied event.
 */
export function referenceMismatches(
  stored: Lead,
  history: readonly StageTransition[],
  applied: readonly LeadEvent[],
  model: ScoringModel = defaultModel,
): string[] {
  const out: string[] = [];
  const differ = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${what}: stored ${JSON.stringify(a)}, reference ${JSON.stringify(b)}`);
  };
  const close = (what: string, a: number | undefined, b: number | undefined) => {
    if (a === undefined || b === undefined || Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(b))) differ(what, a, b);
  };
  if (applied.length === 0) {
    if (stored.version !== 0 || stored.scores !== undefined || history.length > 0) {
      out.push(`no event applied, but version ${stored.version} and ${history.length} transitions are stored`);
    }
    return out;
  }
  if (!stored.scores) return [`${applied.length} events applied, but the lead has no scores`];
  if (stored.version < 1 || stored.version > applied.length) {
    out.push(`version ${stored.version} for ${applied.length} applied events`);
  }
  const initial = newLead(stored.leadId, stored.email, new Date(stored.createdAt));
  const { lead: ref, transitions } = applyEvents(initial, [...applied], model, new Date(stored.scores.scoredAt));
  const rs = ref.scores;
  if (!rs) return ['the reference has no scores'];
  close('fit', stored.scores.fit, rs.fit);
  close('engagement', stored.scores.engagement, rs.engagement);
  close('total', stored.scores.total, rs.total);
  differ('grade', stored.scores.grade, rs.grade);
  differ('lastHighIntentAt', stored.scores.lastHighIntentAt, rs.lastHighIntentAt);
  differ('caps', sortedEntries(stored.scores.caps), sortedEntries(rs.caps));
  // Which of several equal events a capped rule credits follows the order they were applied in, so the explanation is
  // compared by rule, points and time, not by event id.
  const explain = (cs: Lead['scores']) =>
    (cs?.contributions ?? []).map((c) => `${c.kind}:${c.ruleId}:${c.points}:${c.at ?? ''}`).sort();
  differ('contributions', explain(stored.scores), explain(rs));
  for (const k of [
    'stage',
    'stageReason',
    'disqualification',
    'stageChangedAt',
    'lastActivityAt',
    'lastEngagedAt',
    'leadSince',
    'reviewAt',
  ] as const) {
    differ(k, stored[k], ref[k]);
  }
  for (const k of ['profile', 'bant', 'consent', 'attribution', 'suppression'] as const) {
    differ(k, sortedEntries(stored[k]), sortedEntries(ref[k]));
  }
  // As with contributions, which of several events at one instant "caused" a move follows the order of application.
  const line = (t: StageTransition) => `${t.at} ${t.from ?? '-'}>${t.to} ${t.rule} ${t.reason}`;
  differ('stage history', [...history].map(line).sort(), transitions.map(line).sort());
  const last = [...history].sort((a, b) => (a.at < b.at ? -1 : 1)).at(-1);
  if (last && last.to !== stored.stage) out.push(`stage ${stored.stage}, but the last transition went to ${last.to}`);
  return out;
}

/** An object's entries with keys sorted (recursively), so that key order never makes two equal values differ. */
function sortedEntries(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedEntries);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, sortedEntries(v)]);
  }
  return value;
}

const jsonResponse = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => ({
  // An HttpResponse (a plain object: the SDK checks its shape, not its class).
  response: {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: Readable.from([Buffer.from(JSON.stringify(body))]),
  },
});

const requestBody = (request: HttpRequest): string =>
  typeof request.body === 'string' ? request.body : Buffer.from(request.body as Uint8Array).toString('utf8');

/**
 * An SES v2 endpoint in process (the SDK client's request handler): `SendEmail` is accepted and kept, with its tags,
 * so a test counts the mails that reached SES — including those whose answer a fault then lost.
 */
export function fakeSes() {
  const accepted: { messageId: string; tags: Record<string, string> }[] = [];
  let n = 0;
  return {
    accepted,
    requestHandler: {
      handle: async (request: HttpRequest) => {
        const body = JSON.parse(requestBody(request)) as { EmailTags?: { Name: string; Value: string }[] };
        const messageId = `fake-ses-${++n}`;
        accepted.push({
          messageId,
          tags: Object.fromEntries((body.EmailTags ?? []).map((t) => [t.Name, t.Value])),
        });
        return jsonResponse(200, { MessageId: messageId });
      },
    },
  };
}

/**
 * A Step Functions endpoint in process: `StartExecution` starts a named execution once; a second start of a name
 * with another input is refused with `ExecutionAlreadyExists`, as Step Functions does (the start conflict).
 */
export function fakeStepFunctions() {
  const executions = new Map<string, string>();
  const conflicts: string[] = [];
  return {
    executions,
    conflicts,
    requestHandler: {
      handle: async (request: HttpRequest) => {
        const target = String(request.headers['x-amz-target'] ?? '');
        const body = JSON.parse(requestBody(request)) as { name?: string; input?: string; stateMachineArn?: string };
        if (target.endsWith('.StopExecution')) return jsonResponse(200, { stopDate: Date.now() / 1000 });
        const name = body.name ?? '';
        const existing = executions.get(name);
        if (existing !== undefined && existing !== body.input) {
          conflicts.push(name);
          return jsonResponse(400, {
            __type: 'ExecutionAlreadyExists',
            message: `Execution Already Exists: '${name}'`,
          });
        }
        executions.set(name, body.input ?? '');
        return jsonResponse(200, {
          executionArn: `${String(body.stateMachineArn).replace(':stateMachine:', ':execution:')}:${name}`,
          startDate: Date.now() / 1000,
        });
      },
    },
  };
}
