import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { NotFoundError, UnauthorizedError, ValidationError } from '../domain/errors.js';
import { allowedOriginsFromEnv, logger, metrics } from '../adapters/aws.js';

/** HTTP-only failures (the domain knows nothing of bodies and content types). */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}
export class UnsupportedMediaTypeError extends Error {
  override readonly name = 'UnsupportedMediaTypeError';
}

export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(body),
});

/**
 * The one place errors become HTTP responses: 4xx with details for what the caller did wrong, a generic 500 for
 * everything else (details go to the log only).
 */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof ValidationError) {
    return json(400, { error: 'ValidationError', message: error.message, fields: error.fields });
  }
  if (error instanceof NotFoundError) return json(404, { error: 'NotFound', message: error.message });
  if (error instanceof UnauthorizedError) return json(401, { error: 'Unauthorized', message: error.message });
  if (error instanceof PayloadTooLargeError) return json(413, { error: 'PayloadTooLarge', message: error.message });
  if (error instanceof UnsupportedMediaTypeError) {
    return json(415, { error: 'UnsupportedMediaType', message: error.message });
  }
  logger.error('unhandled error', {
    error: error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error),
  });
  return json(500, { error: 'InternalError', message: 'internal error' });
}

/** Wraps an API Gateway handler with the shared HTTP plumbing: headers, CORS allow-list, logging, metrics, errors. */
export function httpApi(handler: ApiHandler, allowedOrigins: readonly string[] = allowedOriginsFromEnv()) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics))
    .use(httpHeaderNormalizer())
    .use(httpCors({ origins: [...allowedOrigins], headers: 'content-type,idempotency-key' }))
    .use({
      onError: (request) => {
        request.response = errorResponse(request.error);
      },
    })
    .handler(handler);
}

/** The request body as text, refusing bodies over `maxBytes` (measured on the bytes, before any parsing). */
export function bodyText(event: APIGatewayProxyEvent, maxBytes: number): string {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBytes) throw new PayloadTooLargeError(`body is larger than ${maxBytes} bytes`);
  return bytes.toString('utf8');
}

export type BodyKind = 'json' | 'form';

/** What the Content-Type says the body is; anything else is a 415. */
export function bodyKind(event: APIGatewayProxyEvent, accept: readonly BodyKind[]): BodyKind {
  const type = (event.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const kind: BodyKind | undefined =
    type === 'application/json' ? 'json' : type === 'application/x-www-form-urlencoded' ? 'form' : undefined;
  if (!kind || !accept.includes(kind)) {
    const names = accept.map((k) => (k === 'json' ? 'application/json' : 'application/x-www-form-urlencoded'));
    throw new UnsupportedMediaTypeError(`content-type must be ${names.join(' or ')}`);
  }
  return kind;
}

/** Parses a JSON body into an unknown value (validation happens against a schema afterwards). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('body is not valid JSON', { '(body)': 'is not valid JSON' });
  }
}

/** Parses an urlencoded body; a repeated field keeps its last value, as most form backends do. */
export function parseUrlEncoded(text: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(text));
}
