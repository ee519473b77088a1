import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { decode, header, ProxyResult, proxyEvent, writeProxyResult } from './api-gateway.js';
import { lambdaContext } from './lambda-context.js';
import type { LambdaHandler } from './lambda.js';

/**
 * The local stand-in for API Gateway (REST API, Lambda proxy integration). It does what API Gateway does on AWS
 * so that handlers don't: routing by resource, API-key and admin-key checks, the request size cap, CORS preflight,
 * the proxy event and result contract, generic 5xx bodies. It also serves the example landing page and hosts
 * local-only routes under /_local/ that other parts of the local runtime register.
 */

/** Who may call a route: anyone, holders of the API key (`x-api-key`), or operators (`x-admin-key`; IAM on AWS). */
export type RouteAuth = 'public' | 'api-key' | 'admin';

export interface ApiRoute {
  /** The API Gateway resource, e.g. `/forms/{formId}`. */
  resource: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The Lambda function's name, for the invocation context and the logs. */
  functionName: string;
  handler: LambdaHandler;
  auth: RouteAuth;
  /**
   * Answer CORS preflight requests on this resource: `true` for the server's allowed origins and the default headers,
   * or the preflight the API's OPTIONS method declares.
   */
  cors?: boolean | CorsPreflight;
  /** Query parameters API Gateway's request validator requires (400 without them). */
  requiredQuery?: readonly string[];
}

/** What an OPTIONS method of the API answers a preflight with. */
export interface CorsPreflight {
  allowOrigins: readonly string[];
  allowHeaders: string;
  allowMethods: string;
  maxAgeSeconds: number;
}

export interface LocalRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  /** Header names lower-cased, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
  /** Values of `{name}` segments of the registered path, URL-decoded. */
  params: Readonly<Record<string, string>>;
  sourceIp: string;
}

export interface LocalResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export type LocalRouteHandler = (req: LocalRequest) => LocalResponse | Promise<LocalResponse>;

export interface HttpServerOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  routes: readonly ApiRoute[];
  apiKey: string;
  adminKey: string;
  /** Origins answered by CORS preflight; `*` allows any. */
  allowedOrigins: readonly string[];
  region: string;
  /** Static files served at `/` (the example landing page). @default lib/local/landing */
  staticDir?: string;
  /** Requests with a larger body get 413 before any handler runs. @default 1 MiB */
  maxBodyBytes?: number;
  /** API Gateway's integration timeout; slower handlers get 504. @default 29 s */
  timeoutMs?: number;
  /** One line per request (method, path, status, time). @default true */
  accessLog?: boolean;
  /** Told of every answer a function gave through the API (what the quiet log reads). */
  onApiResponse?: (r: { method: string; resource: string; statusCode: number; body: string }) => void;
  log?: (line: string) => void;
}

export interface LocalHttpServer {
  url: string;
  port: number;
  /**
   * Adds a local-only route. `path` starts with `/_local/` and may contain `{name}` segments. Returns a function that
   * removes the route. Registering the same method and path twice throws.
   */
  registerLocalRoute(method: string, path: string, handler: LocalRouteHandler): () => void;
  close(): Promise<void>;
}

export const LANDING_DIR = fileURLToPath(new URL('./landing/', import.meta.url));

const MiB = 1024 * 1024;
/** Past this, a too-large body is no longer drained but the connection is cut (API Gateway's own limit). */
const DRAIN_LIMIT = 10 * MiB;

const ERRORS = {
  notFound: { error: 'NotFound', message: 'no such route' },
  methodNotAllowed: { error: 'MethodNotAllowed', message: 'method not allowed on this route' },
  apiKey: { error: 'Unauthorized', message: 'missing or invalid x-api-key' },
  adminKey: { error: 'Unauthorized', message: 'missing or invalid x-admin-key' },
  internal: { error: 'InternalError', message: 'internal error' },
  crossOrigin: { error: 'Forbidden', message: 'cross-origin requests to local routes are refused' },
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
};

/** As the stack's preflight answers (lib/capture-api.ts). */
const PREFLIGHT = { headers: 'Content-Type, Idempotency-Key', maxAgeSeconds: 3600 };

export async function startHttpServer(opts: HttpServerOptions): Promise<LocalHttpServer> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => console.log(line));
  const maxBody = opts.maxBodyBytes ?? MiB;
  const timeoutMs = opts.timeoutMs ?? 29_000;
  const staticDir = resolve(opts.staticDir ?? LANDING_DIR);
  const api = compileApiRoutes(opts.routes);
  const local: { method: string; pattern: Pattern; handler: LocalRouteHandler }[] = [];
  let port = opts.port;

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const { path, rawQuery } = splitUrl(req.url ?? '/');
    const sourceIp = clientIp(req);

    if (path === '/_local' || path.startsWith('/_local/')) {
      const candidates = local.filter((r) => r.pattern.match(path));
      const found = candidates.find((r) => r.method === method);
      if (!found) {
        if (candidates.length === 0) return sendJson(res, 404, ERRORS.notFound);
        res.setHeader('Allow', [...new Set(candidates.map((r) => r.method))].join(', '));
        return sendJson(res, 405, ERRORS.methodNotAllowed);
      }
      // Local routes change state and have no auth: the server listens on loopback only, and browsers may not
      // drive them from other sites (a cross-site form post carries an Origin header).
      const origin = header(req, 'origin');
      if (method !== 'GET' && method !== 'HEAD' && origin !== undefined && !ownOrigins(port).includes(origin)) {
        return sendJson(res, 403, ERRORS.crossOrigin);
      }
      const body = await readBody(req, res, maxBody);
      if (!body) return;
      const out = await found.handler({
        method,
        path,
        query: new URLSearchParams(rawQuery),
        headers: req.headers,
        body,
        params: found.pattern.match(path) ?? {},
        sourceIp,
      });
      const payload = out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body);
      res.writeHead(out.status, { ...out.headers, 'Content-Length': payload.length });
      res.end(payload);
      return;
    }

    const matched = api.match(path);
    if (!matched) {
      if (method === 'GET' || method === 'HEAD') {
        if (await serveStatic(staticDir, path, method, res)) return;
      } else if (await staticFileExists(staticDir, path)) {
        res.setHeader('Allow', 'GET, HEAD');
        return sendJson(res, 405, ERRORS.methodNotAllowed);
      }
      return sendJson(res, 404, ERRORS.notFound);
    }

    const { resource, params, routes } = matched;
    const corsRoute = routes.find((r) => r.cors);
    const cors: CorsPreflight | undefined =
      corsRoute?.cors === true
        ? {
            allowOrigins: opts.allowedOrigins,
            allowHeaders: PREFLIGHT.headers,
            allowMethods: routes.map((r) => r.method).join(', '),
            maxAgeSeconds: PREFLIGHT.maxAgeSeconds,
          }
        : corsRoute?.cors || undefined;
    const allow = [...routes.map((r) => r.method), ...(cors ? ['OPTIONS'] : [])].join(', ');
    if (method === 'OPTIONS' && cors) return preflight(req, res, cors);
    const route = routes.find((r) => r.method === method);
    if (!route) {
      res.setHeader('Allow', allow);
      return sendJson(res, 405, ERRORS.methodNotAllowed);
    }
    if (route.auth === 'api-key' && !sameSecret(header(req, 'x-api-key'), opts.apiKey)) {
      return sendJson(res, 401, ERRORS.apiKey);
    }
    if (route.auth === 'admin' && !sameSecret(header(req, 'x-admin-key'), opts.adminKey)) {
      return sendJson(res, 401, ERRORS.adminKey);
    }
    const missing = (route.requiredQuery ?? []).filter((name) => !hasQueryParameter(rawQuery, name));
    if (missing.length > 0) {
      return sendJson(res, 400, {
        error: 'ValidationError',
        message: `Missing required request parameters: [${missing.join(', ')}]`,
      });
    }
    const body = await readBody(req, res, maxBody);
    if (!body) return;

    const event = proxyEvent(req, {
      resource,
      path,
      rawQuery,
      params,
      body,
      requestId,
      sourceIp,
      port,
      auth: route.auth,
    });
    const context = lambdaContext({ functionName: route.functionName, region: opts.region, timeoutMs });
    const outcome = await invokeWithTimeout(route.handler, event, context, timeoutMs);
    res.setHeader('x-amzn-RequestId', requestId);
    if (outcome.kind === 'timeout') {
      log(`http  ${route.functionName} timed out after ${timeoutMs} ms (request ${requestId})`);
      return sendJson(res, 504, ERRORS.internal);
    }
    if (outcome.kind === 'error') {
      log(`http  ${route.functionName} failed (request ${requestId}): ${describeError(outcome.error)}`);
      return sendJson(res, 500, ERRORS.internal);
    }
    const result = ProxyResult.safeParse(outcome.value);
    if (!result.success) {
      log(
        `http  ${route.functionName} returned a malformed proxy result (request ${requestId}): ${result.error.message}`,
      );
      return sendJson(res, 502, ERRORS.internal);
    }
    writeProxyResult(res, result.data);
    opts.onApiResponse?.({ method, resource, statusCode: result.data.statusCode, body: result.data.body ?? '' });
  };

  const server: Server = createServer((req, res) => {
    const started = performance.now();
    const requestId = randomUUID();
    const { path } = splitUrl(req.url ?? '/');
    // One line per request; never the query string (unsubscribe and tracking tokens live there) nor a body.
    res.once('close', () => {
      if (opts.accessLog === false) return;
      const ms = Math.round(performance.now() - started);
      log(`http  ${req.method ?? '?'} ${path} ${res.writableFinished ? res.statusCode : 'aborted'} ${ms}ms`);
    });
    handle(req, res, requestId).catch((err: unknown) => {
      log(`http  ${req.method ?? '?'} ${path} failed (request ${requestId}): ${describeError(err)}`);
      if (!res.headersSent) sendJson(res, 500, ERRORS.internal);
      else res.destroy();
    });
  });

  await new Promise<void>((res, rej) => {
    const onError = (err: NodeJS.ErrnoException) => rej(err);
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      res();
    });
  });
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : opts.port;

  return {
    url: `http://${host}:${port}`,
    port,
    registerLocalRoute(method, path, handler) {
      if (path !== '/_local' && !path.startsWith('/_local/'))
        throw new Error(`local routes live under /_local/ (got ${path})`);
      const m = method.toUpperCase();
      if (local.some((r) => r.method === m && r.pattern.template === path)) {
        throw new Error(`local route ${m} ${path} is already registered`);
      }
      const entry = { method: m, pattern: compilePattern(path), handler };
      local.push(entry);
      return () => {
        const i = local.indexOf(entry);
        if (i >= 0) local.splice(i, 1);
      };
    },
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeIdleConnections();
        // In-flight requests get a moment to finish; then their connections are cut.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}

/** A JSON response with the right headers. */
export function jsonResponse(status: number, value: unknown): LocalResponse {
  return { status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value) };
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

interface Pattern {
  template: string;
  /** Literal segments count: more specific resources win, as in API Gateway. */
  literals: number;
  match(path: string): Record<string, string> | undefined;
}

function compilePattern(template: string): Pattern {
  const parts = template.split('/').slice(1);
  return {
    template,
    literals: parts.filter((p) => !p.startsWith('{')).length,
    match(path) {
      const segments = path.split('/').slice(1);
      if (segments.length !== parts.length) return undefined;
      const params: Record<string, string> = {};
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i] ?? '';
        const segment = segments[i] ?? '';
        if (part.startsWith('{') && part.endsWith('}')) {
          if (segment === '') return undefined;
          params[part.slice(1, -1)] = decode(segment);
        } else if (part !== segment) return undefined;
      }
      return params;
    },
  };
}

function compileApiRoutes(routes: readonly ApiRoute[]) {
  const byResource = new Map<string, ApiRoute[]>();
  for (const r of routes) {
    const list = byResource.get(r.resource) ?? [];
    if (list.some((x) => x.method === r.method)) throw new Error(`route ${r.method} ${r.resource} is defined twice`);
    byResource.set(r.resource, [...list, r]);
  }
  const patterns = [...byResource.keys()].map(compilePattern).sort((a, b) => b.literals - a.literals);
  return {
    match(path: string): { resource: string; params: Record<string, string>; routes: ApiRoute[] } | undefined {
      for (const p of patterns) {
        const params = p.match(path);
        if (params) return { resource: p.template, params, routes: byResource.get(p.template) ?? [] };
      }
      return undefined;
    },
  };
}

function splitUrl(url: string): { path: string; rawQuery: string } {
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  if (!path.startsWith('/')) path = `/${path}`;
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { path, rawQuery };
}

function hasQueryParameter(rawQuery: string, name: string): boolean {
  return rawQuery.split('&').some((pair) => decode(pair.split('=')[0] ?? '') === name);
}

// ---------------------------------------------------------------------------------------------------------------
// API Gateway behaviour

function preflight(req: IncomingMessage, res: ServerResponse, cors: CorsPreflight): void {
  const origin = header(req, 'origin');
  res.setHeader('Vary', 'Origin');
  if (origin !== undefined && (cors.allowOrigins.includes('*') || cors.allowOrigins.includes(origin))) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Methods', cors.allowMethods);
    res.setHeader('Access-Control-Allow-Headers', cors.allowHeaders);
    res.setHeader('Access-Control-Max-Age', String(cors.maxAgeSeconds));
  }
  res.writeHead(204).end();
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function clientIp(req: IncomingMessage): string {
  const ip = req.socket.remoteAddress ?? '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function ownOrigins(port: number): string[] {
  return [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
}

/**
 * Reads the body up to `limit` bytes. Over the limit it answers 413 itself and returns undefined; the rest of the
 * body is drained (so the client can read the answer) up to API Gateway's 10 MB, then the connection is cut.
 */
async function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | undefined> {
  const tooLarge = () => {
    res.setHeader('Connection', 'close');
    sendJson(res, 413, { error: 'PayloadTooLarge', message: `request body is larger than ${limit} bytes` });
  };
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) {
    tooLarge();
    drain(req, declared);
    return undefined;
  }
  return new Promise<Buffer | undefined>((resolveBody, rejectBody) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).off('end', onEnd).off('error', onError);
      tooLarge();
      drain(req, size);
      resolveBody(undefined);
    };
    const onEnd = () => resolveBody(Buffer.concat(chunks));
    const onError = (err: Error) => rejectBody(err);
    req.on('data', onData).once('end', onEnd).once('error', onError);
  });
}

function drain(req: IncomingMessage, already: number): void {
  let seen = already;
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > DRAIN_LIMIT) req.socket.destroy();
  });
  req.resume();
}

type Outcome = { kind: 'ok'; value: unknown } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

async function invokeWithTimeout(
  handler: LambdaHandler,
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
  timeoutMs: number,
): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((res) => {
    timer = setTimeout(() => res({ kind: 'timeout' }), timeoutMs);
  });
  const run = (async (): Promise<Outcome> => {
    try {
      return { kind: 'ok', value: await handler(event, context) };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

// ---------------------------------------------------------------------------------------------------------------
// Static files (the example landing page)

function staticPath(dir: string, path: string): string | undefined {
  const rel = path === '/' ? 'index.html' : decode(path.slice(1));
  if (rel.includes('\0')) return undefined;
  const file = resolve(dir, rel);
  return file.startsWith(dir + sep) ? file : undefined;
}

async function staticFileExists(dir: string, path: string): Promise<boolean> {
  const file = staticPath(dir, path);
  if (!file) return false;
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function serveStatic(dir: string, path: string, method: string, res: ServerResponse): Promise<boolean> {
  const file = staticPath(dir, path);
  if (!file || !(await staticFileExists(dir, path))) return false;
  const content = await readFile(file);
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': content.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...(type.startsWith('text/html')
      ? { 'Content-Security-Policy': "default-src 'self'; form-action 'self'; frame-ancestors 'none'" }
      : {}),
  });
  res.end(method === 'HEAD' ? undefined : content);
  return true;
}
