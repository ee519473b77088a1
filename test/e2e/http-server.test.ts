import { request } from 'node:http';
import { APIGatewayProxyEventSchema } from '@aws-lambda-powertools/parser/schemas/api-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { startHttpServer, jsonResponse, type ApiRoute, type LocalHttpServer } from '../../lib/local/http-server.js';
import type { LambdaHandler } from '../../lib/local/lambda.js';

/**
 * The local API Gateway over real HTTP, with handlers written here: what reaches a handler, what API Gateway answers
 * by itself (auth, 404/405, 413, preflight, 5xx), and how a proxy result is written back.
 */

const invocations: unknown[] = [];
/** Records the event and answers with it, so tests can look at what the handler saw. */
const echo: LambdaHandler = (event, context) => {
  invocations.push(event);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event, requestId: context.awsRequestId, remaining: context.getRemainingTimeInMillis() }),
  };
};
const failing: LambdaHandler = async () => {
  throw new Error('secret detail: connection string postgres://u:p@db');
};
const malformed: LambdaHandler = async () => ({ status: 200 });
const slow: LambdaHandler = () => new Promise((r) => setTimeout(() => r({ statusCode: 200, body: 'late' }), 1_000));
const cookies: LambdaHandler = async () => ({
  statusCode: 201,
  headers: { 'x-one': 'a', 'content-length': '999' },
  multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
  body: Buffer.from([0, 1, 2, 255]).toString('base64'),
  isBase64Encoded: true,
});

const route = (
  resource: string,
  method: ApiRoute['method'],
  handler: LambdaHandler,
  extra: Partial<ApiRoute> = {},
): ApiRoute => ({
  resource,
  method,
  handler,
  functionName: `test-${method.toLowerCase()}`,
  auth: 'public',
  ...extra,
});

const logs: string[] = [];
let server: LocalHttpServer;
let base: string;

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    region: 'us-east-1',
    apiKey: 'k-123',
    adminKey: 'admin-456',
    allowedOrigins: ['https://www.example.com'],
    maxBodyBytes: 4096,
    timeoutMs: 300,
    log: (line) => logs.push(line),
    routes: [
      route('/forms/{formId}', 'POST', echo, { cors: true }),
      route('/events', 'POST', echo, { auth: 'api-key' }),
      route('/leads', 'GET', echo, { auth: 'admin' }),
      route('/leads/{leadId}', 'GET', echo, { auth: 'admin' }),
      route('/leads/{leadId}', 'DELETE', echo, { auth: 'admin' }),
      route('/unsubscribe', 'GET', echo, { requiredQuery: ['token'] }),
      route('/boom', 'POST', failing),
      route('/malformed', 'GET', malformed),
      route('/slow', 'GET', slow),
      route('/cookies', 'GET', cookies),
    ],
  });
  base = server.url;
});

afterAll(async () => {
  await server.close();
});

/** A request with a path sent byte for byte (fetch would normalize `..`). */
function rawGet(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/`, { path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}

/** What `echo` answers. */
const Echo = z.object({ event: z.unknown(), requestId: z.string(), remaining: z.number() });
/** The event the handler saw, checked against Powertools' schema of API Gateway proxy events. */
const parseEvent = (body: unknown) => APIGatewayProxyEventSchema.parse(Echo.parse(body).event);

describe('static landing page', () => {
  it('serves the page at / and its assets with their content types', async () => {
    const page = await fetch(`${base}/`);
    const css = await fetch(`${base}/styles.css`);

    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('action="/forms/demo-request"');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('never serves files outside the landing directory', async () => {
    expect(await rawGet('/../../../package.json')).toBe(404);
    expect(await rawGet('/%2e%2e/%2e%2e/%2e%2e/package.json')).toBe(404);
    expect(await rawGet('/..%2f..%2f..%2fpackage.json')).toBe(404);
  });
});

describe('proxy events', () => {
  it('hands the handler an API Gateway REST proxy event', async () => {
    const res = await fetch(`${base}/forms/demo-request?utm_source=ads&tag=a&tag=b%20c&plus=a+b`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-Custom': 'yes',
        'x-forwarded-for': '203.0.113.9',
      },
      body: 'email=ada%40example.com&consent=yes',
    });
    const body: unknown = await res.json();
    const event = parseEvent(body);

    expect(res.status).toBe(200);
    expect(event.resource).toBe('/forms/{formId}');
    expect(event.path).toBe('/forms/demo-request');
    expect(event.httpMethod).toBe('POST');
    expect(event.pathParameters).toEqual({ formId: 'demo-request' });
    expect(event.queryStringParameters).toEqual({ utm_source: 'ads', tag: 'b c', plus: 'a+b' });
    expect(event.multiValueQueryStringParameters).toEqual({ utm_source: ['ads'], tag: ['a', 'b c'], plus: ['a+b'] });
    expect(event.headers?.['Content-Type'] ?? event.headers?.['content-type']).toBe(
      'application/x-www-form-urlencoded',
    );
    expect(event.headers?.['x-custom'] ?? event.headers?.['X-Custom']).toBe('yes');
    expect(event.headers?.['X-Forwarded-For']).toBe('203.0.113.9, 127.0.0.1');
    expect(event.body).toBe('email=ada%40example.com&consent=yes');
    expect(event.isBase64Encoded).toBe(false);
    expect(event.requestContext.identity.sourceIp).toBe('127.0.0.1');
    expect(event.requestContext.stage).toBe('local');
    expect(event.requestContext.resourcePath).toBe('/forms/{formId}');
    expect(event.requestContext.requestId).toBe(res.headers.get('x-amzn-requestid'));
  });

  it('gives the handler a Lambda context with a deadline', async () => {
    const res = await fetch(`${base}/leads`, { headers: { 'x-admin-key': 'admin-456' } });
    const body = Echo.parse(await res.json());

    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.remaining).toBeGreaterThan(0);
    expect(body.remaining).toBeLessThanOrEqual(300);
  });

  it('passes a GET without a body as null, and no query as null', async () => {
    const res = await fetch(`${base}/leads/01HX`, { headers: { 'x-admin-key': 'admin-456' } });
    const event = parseEvent(await res.json());

    expect(event.body).toBeNull();
    expect(event.queryStringParameters).toBeNull();
    expect(event.pathParameters).toEqual({ leadId: '01HX' });
    expect(event.requestContext.identity.user).toBe('local-admin');
  });

  it('base64-encodes bodies that are not text', async () => {
    const bytes = Buffer.from([0, 159, 146, 150, 255]);
    const res = await fetch(`${base}/forms/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    const event = parseEvent(await res.json());

    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
  });

  it('writes back status, headers, multi-value headers and base64 bodies', async () => {
    const res = await fetch(`${base}/cookies`);

    expect(res.status).toBe(201);
    expect(res.headers.get('x-one')).toBe('a');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
  });
});

describe('what API Gateway answers itself', () => {
  it('requires the API key on /events', async () => {
    const none = await fetch(`${base}/events`, { method: 'POST', body: '{}' });
    const wrong = await fetch(`${base}/events`, { method: 'POST', headers: { 'x-api-key': 'nope' }, body: '{}' });
    const right = await fetch(`${base}/events`, {
      method: 'POST',
      headers: { 'x-api-key': 'k-123', 'content-type': 'application/json' },
      body: '{}',
    });

    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'Unauthorized', message: 'missing or invalid x-api-key' });
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
    expect(parseEvent(await right.json()).requestContext.identity.apiKey).toBe('k-123');
  });

  it('requires the admin key on admin routes', async () => {
    const none = await fetch(`${base}/leads?email=a%40b.co`);
    const wrong = await fetch(`${base}/leads/x`, { method: 'DELETE', headers: { 'x-admin-key': 'k-123' } });

    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'Unauthorized', message: 'missing or invalid x-admin-key' });
    expect(wrong.status).toBe(401);
  });

  it('answers 404 for unknown routes and 405 for wrong methods', async () => {
    const unknown = await fetch(`${base}/nope`);
    const wrongMethod = await fetch(`${base}/forms/demo-request`, { method: 'GET' });
    const postToPage = await fetch(`${base}/index.html`, { method: 'POST' });

    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'NotFound', message: 'no such route' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST, OPTIONS');
    expect(postToPage.status).toBe(405);
  });

  it('refuses required query parameters that are missing, as the request validator does', async () => {
    const res = await fetch(`${base}/unsubscribe`);

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'ValidationError' });
  });

  it('refuses bodies over the cap with 413 before the handler runs, and keeps serving', async () => {
    const before = invocations.length;
    const res = await fetch(`${base}/forms/demo-request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(8192),
    });
    const after = await fetch(`${base}/`);

    expect(res.status).toBe(413);
    expect(invocations.length).toBe(before);
    expect(after.status).toBe(200);
  });

  it('counts a chunked body against the cap too', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(1024).fill(97));
        c.close();
      },
    });
    const res = await fetch(`${base}/forms/demo-request`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);

    expect(res.status).toBe(413);
  });

  it('answers CORS preflight for allowed origins only', async () => {
    const allowed = await fetch(`${base}/forms/demo-request`, {
      method: 'OPTIONS',
      headers: { origin: 'https://www.example.com', 'access-control-request-method': 'POST' },
    });
    const other = await fetch(`${base}/forms/demo-request`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    const noCors = await fetch(`${base}/events`, { method: 'OPTIONS', headers: { origin: 'https://www.example.com' } });

    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://www.example.com');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(noCors.status).toBe(405);
  });

  it('turns an escaped handler error into a generic 500 and logs the details', async () => {
    const res = await fetch(`${base}/boom`, { method: 'POST' });
    const text = await res.text();

    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: 'InternalError', message: 'internal error' });
    expect(text).not.toContain('secret');
    expect(logs.some((l) => l.includes('secret detail'))).toBe(true);
  });

  it('answers 502 for a malformed proxy result and 504 for a handler past the timeout', async () => {
    const bad = await fetch(`${base}/malformed`);
    const late = await fetch(`${base}/slow`);

    expect(bad.status).toBe(502);
    expect(late.status).toBe(504);
    expect(await late.json()).toEqual({ error: 'InternalError', message: 'internal error' });
  });

  it('logs one line per request without the query string', async () => {
    await fetch(`${base}/unsubscribe?token=very-secret-token`);
    await new Promise((r) => setTimeout(r, 20));

    const line = logs.findLast((l) => l.includes('GET /unsubscribe'));
    expect(line).toMatch(/^http {2}GET \/unsubscribe 200 \d+ms$/);
    expect(logs.some((l) => l.includes('very-secret-token'))).toBe(false);
  });
});

describe('local routes', () => {
  it('routes /_local/ paths to registered handlers, with path parameters', async () => {
    const remove = server.registerLocalRoute('GET', '/_local/runs/{runId}', (req) =>
      jsonResponse(200, { runId: req.params.runId, q: req.query.get('q') }),
    );
    const res = await fetch(`${base}/_local/runs/r%201?q=x+y`);
    remove();
    const gone = await fetch(`${base}/_local/runs/r1`);

    expect(await res.json()).toEqual({ runId: 'r 1', q: 'x y' });
    expect(gone.status).toBe(404);
  });

  it('refuses cross-origin writes to local routes', async () => {
    const remove = server.registerLocalRoute('POST', '/_local/ses', (req) =>
      jsonResponse(202, { bytes: req.body.length }),
    );
    const sameSite = await fetch(`${base}/_local/ses`, { method: 'POST', body: '{"a":1}', headers: { origin: base } });
    const crossSite = await fetch(`${base}/_local/ses`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { origin: 'https://evil.example' },
    });
    const noOrigin = await fetch(`${base}/_local/ses`, { method: 'POST', body: '{"a":1}' });
    remove();

    expect(sameSite.status).toBe(202);
    expect(await sameSite.json()).toEqual({ bytes: 7 });
    expect(crossSite.status).toBe(403);
    expect(noOrigin.status).toBe(202);
  });

  it('accepts only paths under /_local/ and one handler per method and path', () => {
    const remove = server.registerLocalRoute('GET', '/_local/x', () => jsonResponse(200, {}));

    expect(() => server.registerLocalRoute('GET', '/_local/x', () => jsonResponse(200, {}))).toThrow(
      /already registered/,
    );
    expect(() => server.registerLocalRoute('GET', '/forms/x', () => jsonResponse(200, {}))).toThrow(/_local/);
    remove();
  });
});
