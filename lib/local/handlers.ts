import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';

/**
 * A Lambda handler as the runtime sees it: it is called with an event and a context, and what it returns (or the
 * promise of it) is checked by whoever invokes it (API Gateway's proxy contract, the stream's batch response).
 */
export type LambdaHandler = (event: unknown, context: Context) => unknown;

/** The handler modules the local runtime can bind, by file name under lambdas/handlers/. */
export const HANDLER_NAMES = [
  'capture-form',
  'capture-events',
  'leads-admin',
  'unsubscribe',
  'score-stream',
  'ses-engagement',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

export const HANDLERS_DIR = fileURLToPath(new URL('../../lambdas/handlers/', import.meta.url));

export class MissingHandlerError extends Error {
  override readonly name = 'MissingHandlerError';
}

const isHandler = (x: unknown): x is LambdaHandler => typeof x === 'function';

/** The source file of a handler module, if it exists (TypeScript under tsx/vitest, JavaScript once bundled). */
export function handlerFile(name: string, dir: string = HANDLERS_DIR): string | undefined {
  return [`${dir}${name}.ts`, `${dir}${name}.js`].find((f) => existsSync(f));
}

/**
 * Imports `lambdas/handlers/<name>` and returns its exported `handler`, the way Lambda resolves `<file>.handler`.
 * Handler modules read their configuration (and create their clients) at import time, so the environment must be
 * set before the first call. Returns undefined when the module does not exist and `optional` is set; throws
 * MissingHandlerError otherwise. Errors raised while importing an existing module propagate unchanged.
 */
export async function loadHandler(
  name: string,
  opts: { optional: true; dir?: string },
): Promise<LambdaHandler | undefined>;
export async function loadHandler(name: string, opts?: { optional?: false; dir?: string }): Promise<LambdaHandler>;
export async function loadHandler(
  name: string,
  opts: { optional?: boolean; dir?: string } = {},
): Promise<LambdaHandler | undefined> {
  const dir = opts.dir ?? HANDLERS_DIR;
  const file = handlerFile(name, dir);
  if (!file) {
    if (opts.optional) return undefined;
    throw new MissingHandlerError(`handler module lambdas/handlers/${name}.ts is missing`);
  }
  const mod: unknown = await import(pathToFileURL(file).href);
  const handler = typeof mod === 'object' && mod !== null && 'handler' in mod ? mod.handler : undefined;
  if (!isHandler(handler)) throw new MissingHandlerError(`lambdas/handlers/${name} does not export a handler function`);
  return handler;
}
