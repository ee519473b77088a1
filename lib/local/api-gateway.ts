import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { LOCAL_ACCOUNT_ID } from './lambda-context.js';

/** The Lambda proxy integration contract of API Gateway's REST APIs, both ways: the event in, the result out. */

/** What a Lambda proxy integration must return; anything else is API Gateway's 502. */
export const ProxyResult = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullish(),
  multiValueHeaders: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()]))).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().nullish(),
});
export type ProxyResult = z.infer<typeof ProxyResult>;

/** Headers that describe the connection, not the response; the server sets them itself. */
const HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** A request header's value, if it was sent once. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** URL-decodes, keeping malformed input as it was sent. */
export function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const TEXT_TYPES = [
  /^text\//,
  /^application\/(json|x-www-form-urlencoded|xml|javascript|graphql)\b/,
  /^application\/[\w.+-]+\+(json|xml)\b/,
];

/** API Gateway hands text bodies over as strings and everything else base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const ct = contentType.trim().toLowerCase();
  return TEXT_TYPES.some((re) => re.test(ct));
}

/**
 * The event API Gateway's Lambda proxy integration (REST API, payload 1.0) builds from a request: header names as the
 * client spelled them (`headers` keeps the last value), query and path parameters URL-decoded (`+` stays `+`), text
 * bodies as strings and others base64-encoded, and the request context with the caller's identity.
 */
export function proxyEvent(
  req: IncomingMessage,
  x: {
    resource: string;
    path: string;
    rawQuery: string;
    params: Record<string, string>;
    body: Buffer;
    requestId: string;
    sourceIp: string;
    port: number;
    auth: 'public' | 'api-key' | 'admin';
  },
): APIGatewayProxyEvent {
  // Header names keep the client's spelling, as API Gateway passes them; `headers` holds the last value.
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? '';
    (multiValueHeaders[name] ??= []).push(req.rawHeaders[i + 1] ?? '');
  }
  const setHeader = (name: string, value: string) => {
    for (const k of Object.keys(multiValueHeaders))
      if (k.toLowerCase() === name.toLowerCase()) delete multiValueHeaders[k];
    multiValueHeaders[name] = [value];
  };
  const forwardedFor = header(req, 'x-forwarded-for');
  setHeader('X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${x.sourceIp}` : x.sourceIp);
  setHeader('X-Forwarded-Proto', 'http');
  setHeader('X-Forwarded-Port', String(x.port));
  setHeader(
    'X-Amzn-Trace-Id',
    `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(multiValueHeaders)) headers[k] = v[v.length - 1] ?? '';

  const multiValueQuery: Record<string, string[]> = {};
  for (const pair of x.rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    (multiValueQuery[key] ??= []).push(eq < 0 ? '' : decode(pair.slice(eq + 1)));
  }
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(multiValueQuery)) query[k] = v[v.length - 1] ?? '';
  const hasQuery = Object.keys(query).length > 0;

  const text = isTextual(header(req, 'content-type'));
  const now = new Date();
  const method = (req.method ?? 'GET').toUpperCase();
  const operator = x.auth === 'admin';
  return {
    resource: x.resource,
    path: x.path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: Object.keys(x.params).length > 0 ? { ...x.params } : null,
    stageVariables: null,
    body: x.body.length === 0 ? null : text ? x.body.toString('utf8') : x.body.toString('base64'),
    isBase64Encoded: x.body.length > 0 && !text,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: 'local',
      authorizer: null,
      domainName: header(req, 'host') ?? `127.0.0.1:${x.port}`,
      domainPrefix: 'local',
      extendedRequestId: x.requestId,
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: operator ? LOCAL_ACCOUNT_ID : null,
        apiKey: x.auth === 'api-key' ? (header(req, 'x-api-key') ?? null) : null,
        apiKeyId: x.auth === 'api-key' ? 'local' : null,
        caller: operator ? 'local-admin' : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: x.sourceIp,
        user: operator ? 'local-admin' : null,
        userAgent: header(req, 'user-agent') ?? null,
        userArn: operator ? `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local-admin` : null,
      },
      path: `/local${x.path}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId: x.requestId,
      requestTime: apiGatewayTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: createHash('sha1').update(x.resource).digest('hex').slice(0, 6),
      resourcePath: x.resource,
      stage: 'local',
    },
  };
}

/** `09/Apr/2015:12:34:56 +0000`, API Gateway's requestTime format. */
function apiGatewayTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Writes a proxy result back as API Gateway does: both header forms merged, base64 bodies decoded. */
export function writeProxyResult(res: ServerResponse, r: ProxyResult): void {
  const merged = new Map<string, { name: string; values: string[] }>();
  const add = (name: string, value: string | number | boolean) => {
    const key = name.toLowerCase();
    if (HOP_BY_HOP.has(key)) return;
    const entry = merged.get(key) ?? { name, values: [] };
    entry.values.push(String(value));
    merged.set(key, entry);
  };
  for (const [k, v] of Object.entries(r.headers ?? {})) add(k, v);
  for (const [k, vs] of Object.entries(r.multiValueHeaders ?? {})) {
    // A header given in both forms is sent once per distinct value, as API Gateway merges them.
    for (const v of vs) if (!(merged.get(k.toLowerCase())?.values.includes(String(v)) ?? false)) add(k, v);
  }
  for (const { name, values } of merged.values()) res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
  const body = r.body ? Buffer.from(r.body, r.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  res.setHeader('Content-Length', body.length);
  res.writeHead(r.statusCode).end(body);
}
