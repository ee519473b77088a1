import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as z from 'zod';
import type { LocalFunction } from './deployment.js';

/**
 * The one local Lambda invoker (DESIGN §9): every function of the synthesized template runs here, whoever invokes it
 * (API Gateway, the stream and queue event sources, the state machines, a test). Each function gets containers of its
 * own — worker threads whose `process.env` is exactly the function's template environment plus what the Lambda
 * runtime itself sets and what `baseEnvironment` adds (the SDK's standard endpoint variables, credentials, the scaled
 * clock) — so a function that reads a setting it was not given fails here as it fails on AWS. A container runs one
 * invocation at a time; more concurrent invocations start more containers (up to `maxConcurrency`, then they wait),
 * and a container that times out is discarded, as Lambda does. Containers start on first use (a cold start).
 */

/** A Lambda handler as an event source calls it: an event and a context in, what it returns (or its promise) out. */
export type LambdaHandler = (event: unknown, context: import('aws-lambda').Context) => unknown;

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));

/** What an invocation returned, or the error Lambda reports for it. */
export type InvokeResult =
  { ok: true; payload: unknown } | { ok: false; errorType: string; errorMessage: string; trace: string[] };

/** A function error, as a thrown value (what callers that want exceptions get from `invokeOrThrow`). */
export class LambdaFunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly trace: string[] = [],
  ) {
    super(message);
    this.name = errorType;
  }
}

export interface LogLine {
  functionName: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface LocalLambdaOptions {
  functions: Readonly<Record<string, LocalFunction>>;
  /** Added to every function's environment: endpoints, credentials, the scaled clock. */
  baseEnvironment: Readonly<Record<string, string>>;
  region: string;
  /**
   * Containers per function at most, as a reserved concurrency: more concurrent invocations wait for one to be free.
   * Each container is a thread that loads the function's code, so the default keeps a laptop (and CI) light.
   * @default 1
   */
  maxConcurrency?: number;
  /** Every line a function writes. @default written to this process's stdout/stderr */
  onLog?: (line: LogLine) => void;
  /** Shorter timeouts than the template's, by logical id or handler module name (tests that force a time budget). */
  timeoutOverridesMs?: Readonly<Record<string, number>>;
}

const WorkerMessage = z.union([
  z.object({ type: z.literal('ready') }),
  z.object({
    type: z.literal('init-error'),
    error: z.object({ errorType: z.string(), errorMessage: z.string(), trace: z.array(z.string()) }),
  }),
  z.object({ type: z.literal('result'), id: z.number(), ok: z.literal(true), value: z.unknown() }),
  z.object({
    type: z.literal('result'),
    id: z.number(),
    ok: z.literal(false),
    error: z.object({ errorType: z.string(), errorMessage: z.string(), trace: z.array(z.string()) }),
  }),
]);
type WorkerMessage = z.infer<typeof WorkerMessage>;

interface Container {
  worker: Worker;
  ready: Promise<InvokeResult | undefined>;
  busy: boolean;
  dead: boolean;
  pending: Map<number, (r: InvokeResult) => void>;
}

export class LocalLambda {
  private readonly containers = new Map<string, Container[]>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private nextId = 1;
  private stopped = false;
  /** Invocations per function logical id (what a test or the console counts). */
  readonly invocations = new Map<string, number>();

  constructor(private readonly opts: LocalLambdaOptions) {}

  /** The functions this invoker runs. */
  get functions(): Readonly<Record<string, LocalFunction>> {
    return this.opts.functions;
  }

  /** The function a name, ARN or logical id stands for. */
  functionFor(ref: string): LocalFunction | undefined {
    const plain = ref.replace(/:(\$LATEST|\d+)$/, '');
    return (
      this.opts.functions[plain] ??
      Object.values(this.opts.functions).find((f) => f.name === plain || f.arn === plain || f.logicalId === plain)
    );
  }

  /** The environment a function's containers run with. */
  environmentOf(fn: LocalFunction): Record<string, string> {
    return {
      ...fn.environment,
      ...this.opts.baseEnvironment,
      // What the Lambda runtime itself sets in every container.
      AWS_REGION: this.opts.region,
      AWS_DEFAULT_REGION: this.opts.region,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      _HANDLER: `index.${exportName(fn)}`,
      TZ: 'UTC',
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    };
  }

  /** Invokes a function (by logical id, name or ARN) with an event, as a synchronous Lambda invocation. */
  async invoke(ref: string, event: unknown): Promise<InvokeResult> {
    const fn = this.functionFor(ref);
    if (!fn) {
      return {
        ok: false,
        errorType: 'ResourceNotFoundException',
        errorMessage: `Function not found: ${ref}`,
        trace: [],
      };
    }
    if (this.stopped)
      return { ok: false, errorType: 'ServiceException', errorMessage: 'the local stack stopped', trace: [] };
    this.invocations.set(fn.logicalId, (this.invocations.get(fn.logicalId) ?? 0) + 1);
    const container = await this.acquire(fn);
    try {
      const init = await container.ready;
      if (init) {
        container.dead = true;
        return init;
      }
      return await this.run(fn, container, event);
    } finally {
      container.busy = false;
      this.release(fn);
    }
  }

  /** Invokes and returns the payload, throwing the function's error as a `LambdaFunctionError`. */
  async invokeOrThrow(ref: string, event: unknown): Promise<unknown> {
    const r = await this.invoke(ref, event);
    if (!r.ok) throw new LambdaFunctionError(r.errorType, r.errorMessage, r.trace);
    return r.payload;
  }

  /** Starts one container of each named function ahead of its first invocation (a warm start). */
  async warm(refs: readonly string[]): Promise<void> {
    await Promise.all(
      refs.map(async (ref) => {
        const fn = this.functionFor(ref);
        if (!fn || (this.containers.get(fn.logicalId)?.length ?? 0) > 0) return;
        const c = this.spawn(fn);
        c.busy = false;
        await c.ready;
      }),
    );
  }

  /** Stops every container. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.containers.values()].flat();
    this.containers.clear();
    for (const w of [...this.waiting.values()].flat()) w();
    await Promise.all(all.map((c) => c.worker.terminate().catch(() => undefined)));
  }

  private async acquire(fn: LocalFunction): Promise<Container> {
    for (;;) {
      const pool = (this.containers.get(fn.logicalId) ?? []).filter((c) => !c.dead);
      this.containers.set(fn.logicalId, pool);
      const idle = pool.find((c) => !c.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (pool.length < (this.opts.maxConcurrency ?? 1)) return this.spawn(fn);
      await new Promise<void>((r) => this.waiting.set(fn.logicalId, [...(this.waiting.get(fn.logicalId) ?? []), r]));
    }
  }

  private release(fn: LocalFunction): void {
    const queue = this.waiting.get(fn.logicalId);
    queue?.shift()?.();
  }

  private spawn(fn: LocalFunction): Container {
    const worker = new Worker(WORKER, {
      env: this.environmentOf(fn),
      workerData: {
        file: resolve(PROJECT_ROOT, fn.handler),
        exportName: exportName(fn),
        functionName: fn.name,
        memoryMb: fn.memoryMb,
      },
      stdout: true,
      stderr: true,
      // The template's NODE_OPTIONS (source maps) are the Lambda runtime's business; here tsx maps sources.
      execArgv: [],
    });
    const onLog =
      this.opts.onLog ??
      ((l: LogLine) => (l.stream === 'stdout' ? process.stdout : process.stderr).write(`${l.line}\n`));
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: worker[stream] }).on('line', (line) => onLog({ functionName: fn.name, stream, line }));
    }
    const container: Container = {
      worker,
      busy: true,
      dead: false,
      pending: new Map(),
      ready: Promise.resolve(undefined),
    };
    container.ready = new Promise<InvokeResult | undefined>((resolveReady) => {
      const fail = (errorType: string, errorMessage: string, trace: string[] = []) => {
        container.dead = true;
        resolveReady({ ok: false, errorType, errorMessage, trace });
        for (const done of container.pending.values()) done({ ok: false, errorType, errorMessage, trace });
        container.pending.clear();
      };
      worker.on('message', (raw: unknown) => {
        const m: WorkerMessage = WorkerMessage.parse(raw);
        if (m.type === 'ready') resolveReady(undefined);
        else if (m.type === 'init-error') fail(m.error.errorType, m.error.errorMessage, m.error.trace);
        else {
          const done = container.pending.get(m.id);
          container.pending.delete(m.id);
          done?.(m.ok ? { ok: true, payload: m.value } : { ok: false, ...m.error });
        }
      });
      worker.on('error', (e) => fail('Runtime.ExitError', e.message, (e.stack ?? '').split('\n')));
      worker.on('exit', (code) => {
        if (!container.dead) fail('Runtime.ExitError', `RequestId: container exited with code ${code}`);
      });
    });
    this.containers.set(fn.logicalId, [...(this.containers.get(fn.logicalId) ?? []), container]);
    return container;
  }

  private timeoutOf(fn: LocalFunction): number {
    const overrides = this.opts.timeoutOverridesMs ?? {};
    const module = fn.handler.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
    return overrides[fn.logicalId] ?? overrides[module] ?? fn.timeoutMs;
  }

  private run(fn: LocalFunction, container: Container, event: unknown): Promise<InvokeResult> {
    const id = this.nextId++;
    const timeoutMs = this.timeoutOf(fn);
    const requestId = randomUUID();
    return new Promise<InvokeResult>((resolveRun) => {
      const timer = setTimeout(() => {
        // Lambda stops the function at its timeout and starts the next invocation in a fresh container.
        container.pending.delete(id);
        container.dead = true;
        void container.worker.terminate();
        resolveRun({
          ok: false,
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
          trace: [],
        });
      }, timeoutMs);
      container.pending.set(id, (r) => {
        clearTimeout(timer);
        resolveRun(r);
      });
      container.worker.postMessage({ type: 'invoke', id, event, requestId, timeoutMs });
    });
  }
}

/** The exported name the template's `Handler` (`index.handler`) names. */
function exportName(fn: LocalFunction): string {
  return fn.handlerExport ?? 'handler';
}
