import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import * as z from 'zod';
import { lambdaContext } from './lambda-context.js';

/**
 * The inside of one local Lambda container (a worker thread with the function's own environment): imports the
 * handler module once, as Lambda's Node.js runtime does at init, then runs one invocation at a time. Results travel
 * back as JSON, as Lambda serializes them; a thrown error travels as Lambda reports it (`errorType`, `errorMessage`,
 * `trace`).
 */

const Init = z.object({ file: z.string(), exportName: z.string(), functionName: z.string(), memoryMb: z.number() });
const Invoke = z.object({
  type: z.literal('invoke'),
  id: z.number(),
  event: z.unknown(),
  requestId: z.string(),
  timeoutMs: z.number(),
});

const port = parentPort;
if (!port) throw new Error('lambda-worker runs as a worker thread');
const init = Init.parse(workerData);

const errorOf = (e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  return { errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') };
};

type Handler = (event: unknown, context: unknown) => unknown;

let handler: Handler;
try {
  const mod: unknown = await import(pathToFileURL(init.file).href);
  const exported = typeof mod === 'object' && mod !== null ? Reflect.get(mod, init.exportName) : undefined;
  if (typeof exported !== 'function') {
    throw Object.assign(new Error(`${init.file} does not export a function "${init.exportName}"`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  handler = exported as Handler;
  port.postMessage({ type: 'ready' });
} catch (e) {
  const error = errorOf(e);
  port.postMessage({
    type: 'init-error',
    error: { ...error, errorType: error.errorType === 'Error' ? 'Runtime.ImportModuleError' : error.errorType },
  });
  throw e;
}

port.on('message', (message: unknown) => {
  const m = Invoke.parse(message);
  const context = lambdaContext({
    functionName: init.functionName,
    region: process.env.AWS_REGION ?? 'us-east-1',
    timeoutMs: m.timeoutMs,
    requestId: m.requestId,
    memoryMb: init.memoryMb,
  });
  void (async () => {
    try {
      const result = await handler(m.event, context);
      // Lambda serializes the result: undefined fields vanish, dates become strings.
      const value: unknown = result === undefined ? null : JSON.parse(JSON.stringify(result));
      port.postMessage({ type: 'result', id: m.id, ok: true, value });
    } catch (e) {
      port.postMessage({ type: 'result', id: m.id, ok: false, error: errorOf(e) });
    }
  })();
});
