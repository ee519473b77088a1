import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import fc from 'fast-check';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { FORMS } from '../../lambdas/domain/forms.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { testRepository } from '../support/dynamo.js';
import { recordCalls, type CallRecorder } from '../support/faults.js';

/**
 * Issue 7 §4 / issue 2 "Bad input": a fast-check fuzz of both public routes through the real handler modules, with
 * API Gateway-shaped events. Whatever the body, headers or encoding: never a 5xx; every 4xx has the documented shape
 * with a stable message; a rejected input writes nothing (every DynamoDB call of the handlers' client is recorded);
 * 202 only for valid input. Addresses are unique per run, so runs never meet in the shared table.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const MAX_FORM_BYTES = 16 * 1024;
const FORM_IDS = Object.keys(FORMS);
const LINE_FIELDS: Record<string, number> = {
  firstName: 100,
  lastName: 100,
  company: 200,
  jobTitle: 200,
  companySize: 50,
  industry: 100,
  country: 100,
  phone: 50,
  timeZone: 64,
  budget: 200,
  authority: 200,
  timeline: 200,
  utm_source: 200,
  utm_medium: 200,
  utm_campaign: 200,
  utm_term: 200,
  utm_content: 200,
};
const TEXT_FIELDS: Record<string, number> = { need: 2000, message: 4000 };
const FORM_FIELDS = [
  'email',
  ...Object.keys(LINE_FIELDS),
  ...Object.keys(TEXT_FIELDS),
  'consent',
  'website',
  'redirect',
];
const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'isPrototypeOf',
];

let form: ApiHandler;
let events: ApiHandler;
let recorder: CallRecorder;
let allowedOrigins: string[] = [];
const { repo } = testRepository();

beforeAll(async () => {
  const runtime = await import('../../lambdas/adapters/aws.js');
  form = (await import('../../lambdas/handlers/capture-form.js')).handler;
  events = (await import('../../lambdas/handlers/capture-events.js')).handler;
  recorder = recordCalls(runtime.dynamoDb());
  allowedOrigins = runtime.allowedOriginsFromEnv();
});
afterAll(() => recorder.remove());

// ---------------------------------------------------------------------------------------------------------------
// Requests and responses

interface Request {
  formId?: string | null;
  headers: Record<string, string>;
  /** The body as sent on the wire. */
  bytes: Buffer;
  /** Hand it over base64-encoded (as API Gateway does for binary media types) rather than as a UTF-8 string. */
  base64: boolean;
}

function apiEvent(r: Request): APIGatewayProxyEvent {
  const path = r.formId === undefined ? '/events' : `/forms/${r.formId ?? ''}`;
  const resource = r.formId === undefined ? '/events' : '/forms/{formId}';
  return {
    resource,
    path,
    httpMethod: 'POST',
    headers: r.headers,
    multiValueHeaders: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: r.formId === undefined || r.formId === null ? null : { formId: r.formId },
    stageVariables: null,
    body: r.bytes.length === 0 ? null : r.base64 ? r.bytes.toString('base64') : r.bytes.toString('utf8'),
    isBase64Encoded: r.base64 && r.bytes.length > 0,
    requestContext: {
      accountId: '000000000000',
      apiId: 'fuzz',
      authorizer: null,
      httpMethod: 'POST',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: r.formId === undefined ? 'fuzz-key' : null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '198.51.100.20',
        user: null,
        userAgent: 'fast-check',
        userArn: null,
      },
      path,
      protocol: 'HTTP/1.1',
      requestId: ulid(),
      requestTimeEpoch: Date.now(),
      resourceId: 'fuzz',
      resourcePath: resource,
      stage: 'fuzz',
    },
  };
}

const context = (): Context => lambdaContext({ functionName: 'fuzz', region: 'us-east-1', timeoutMs: 10_000 });

/** Invokes a handler with the calls its DynamoDB client makes recorded. */
async function invoke(handler: ApiHandler, r: Request) {
  recorder.clear();
  const result = await handler(apiEvent(r), context());
  return { result, writes: recorder.writes() };
}

const ERROR_NAMES = ['ValidationError', 'NotFound', 'PayloadTooLarge', 'UnsupportedMediaType', 'Unauthorized'] as const;
const ErrorBody = z.strictObject({
  error: z.enum(ERROR_NAMES),
  message: z.string().min(1),
  fields: z.record(z.string(), z.string().min(1)).optional(),
});

const FORM_MESSAGES = [
  'invalid form submission',
  'body is not valid JSON',
  `body is larger than ${MAX_FORM_BYTES} bytes`,
  'content-type must be application/json or application/x-www-form-urlencoded',
];
const EVENT_MESSAGES = [
  'invalid event batch',
  'body is not valid JSON',
  `body is larger than ${256 * 1024} bytes`,
  'content-type must be application/json',
];

/**
 * The writes that append an event: a conditional put of an `EVENT#` item (followed by a read of its lead), or, for an
 * event with lookup copies, a transaction putting it with them and a check of the lead.
 */
const EventItem = z.object({ sk: z.object({ S: z.string().startsWith('EVENT#') }) });
const EventPut = z.object({ Item: EventItem });
const EventAppend = z.object({
  TransactItems: z
    .array(z.object({ Put: z.object({ Item: z.object({ sk: z.object({ S: z.string() }) }) }).optional() }))
    .refine((items) => items.some((i) => i.Put?.Item.sk.S.startsWith('EVENT#'))),
});
const eventPuts = (writes: { command: string; input: unknown }[]) =>
  writes.filter(
    (w) =>
      (w.command === 'PutItemCommand' && EventPut.safeParse(w.input).success) ||
      (w.command === 'TransactWriteItemsCommand' && EventAppend.safeParse(w.input).success),
  );

/** A 4xx answer has the documented shape, one of the route's fixed messages, no internals, and writes nothing. */
function expectClientError(
  out: { result: APIGatewayProxyResult; writes: unknown[] },
  messages: readonly string[],
): { error: string; message: string; fields: Map<string, string> } {
  const { result } = out;
  expect(result.statusCode).toBeGreaterThanOrEqual(400);
  expect(result.statusCode).toBeLessThan(500);
  expect(String(result.headers?.['content-type'] ?? '')).toMatch(/^application\/json/);
  const raw: unknown = JSON.parse(result.body);
  const body = ErrorBody.parse(raw);
  const known = messages.includes(body.message) || /^no form ".{0,64}"$/su.test(body.message);
  expect(known, `unexpected message ${JSON.stringify(body.message)}`).toBe(true);
  expect(result.body).not.toMatch(/\.ts:\d+|\bat [\w.<>]+ \(|Exception|stack/);
  if (body.error === 'ValidationError') expect(body.fields).toBeDefined();
  else expect(body.fields).toBeUndefined();
  expect(out.writes).toEqual([]);
  // Field names read from the JSON as sent: a zod record would drop a field called `__proto__`.
  const rawFields = typeof raw === 'object' && raw !== null && 'fields' in raw ? raw.fields : undefined;
  const fields = new Map(
    typeof rawFields === 'object' && rawFields !== null
      ? Object.entries(rawFields).map(([k, v]) => [k, String(v)])
      : [],
  );
  return { error: body.error, message: body.message, fields };
}

/** The same request answered twice gives the same 4xx body: messages are stable. */
async function expectStable(handler: ApiHandler, r: Request, first: APIGatewayProxyResult): Promise<void> {
  const again = await invoke(handler, r);
  expect({ status: again.result.statusCode, body: again.result.body }).toEqual({
    status: first.statusCode,
    body: first.body,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Generators

/**
 * Generators stay pure (fast-check replays and shrinks their values), so where an address or an event id must be new
 * they hold MARK, which {@link uniquify} replaces with a fresh nonce (a different one per occurrence) per request.
 */
const MARK = 'fuzzmark';
let serial = 0;
const uniquify = (text: string): string => text.replaceAll(MARK, () => `fz${++serial}x${ulid().toLowerCase()}`);

/** A valid address, unique once uniquified (unicode in the local part and the domain, some upper case). */
const freshEmail = fc
  .tuple(
    fc.constantFrom('ada', 'Zoë', 'δοκιμή', "o'neil", 'first.last+tag', 'ÉLODIE', 'x_y-z', '李'),
    fc.constantFrom('example.com', 'exämple.org', 'sub.example.co.uk', 'EXAMPLE.IO'),
  )
  .map(([local, domain]) => `${local}.${MARK}@${domain}`);

const ADVERSARIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n',
  'x\r\nSet-Cookie: session=1',
  '\u001b[31mred',
  '\u007f',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '${7*7}',
  '{{7*7}}',
  "'; DROP TABLE leads; --",
  '\uFEFF',
  '\u202Egnp.exe',
  'İstanbul',
  '𝒜𝒹𝒶',
  '👩‍💻',
  'é'.normalize('NFD'),
  '1e400',
  '0x10',
  '-0',
  'NaN',
  'true',
  '1',
  'null',
  'undefined',
  '__proto__',
  '%00',
  '%E0%A4%A',
];

/** Text in any valid Unicode (any code point, including controls and unassigned ones), adversarial or big. */
const anyText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...ADVERSARIAL_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 100, maxLength: 2500 }) },
);
/** Text that may hold lone surrogates (any UTF-16 code unit), as `JSON.parse` of `"\ud800"` gives. */
const utf16Text = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  maxLength: 24,
});

const scalar = fc.oneof(
  anyText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(1e300, -1e300, 5e-324, Number.MAX_SAFE_INTEGER + 2),
);
const anyKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FORM_FIELDS) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 1, arbitrary: fc.constantFrom('Email', 'EMAIL', 'email ', 'first_name', 'events', 'type', '') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);
const { value: anyJson } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyKey, tie('value'), { maxKeys: 5 }),
  ),
}));

/** Own enumerable properties set with defineProperty, so `__proto__` is a key like any other (as JSON.parse makes it). */
function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** A form-ish object: often an email, then random fields (known, prototype-named, odd) with random values. */
const formObject = fc
  .tuple(
    fc.option(fc.oneof(freshEmail, anyText, anyJson), { nil: undefined }),
    fc.array(fc.tuple(anyKey, fc.oneof(anyText, anyJson)), { maxLength: 6 }),
  )
  .map(([email, rest]) => objectOf([...(email === undefined ? [] : [['email', email] as const]), ...rest]));

/** Deep nesting, alone or inside a field: `[[[[…]]]]` up to the size limit. */
const deepNesting = fc.tuple(fc.integer({ min: 1, max: 8000 }), fc.boolean(), freshEmail).map(([n, inField, email]) => {
  const deep = '['.repeat(n) + ']'.repeat(n);
  return inField ? `{"email":${JSON.stringify(email)},"firstName":${deep}}` : deep;
});

const brokenJson = fc.oneof(
  fc.constantFrom(
    '{',
    '}',
    '{"email":',
    "{'email':'a@example.com'}",
    '{"email":"a@example.com",}',
    'NaN',
    '\u0000',
    '[1,]',
    '{"a":1}{"b":2}',
    '"\\ud800"',
    '{"email":"\\x41@example.com"}',
  ),
  formObject.chain((o) => {
    const text = JSON.stringify(o);
    return fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((k) => text.slice(0, k));
  }),
);

const urlencodedBody = fc.oneof(
  fc
    .array(fc.tuple(anyKey, anyText), { maxLength: 8 })
    .chain((pairs) => freshEmail.map((email) => new URLSearchParams([['email', email], ...pairs]).toString())),
  fc.array(fc.tuple(anyKey, anyText), { maxLength: 8 }).map((pairs) => new URLSearchParams(pairs).toString()),
  fc.constantFrom(
    '%',
    '%zz',
    'email=%E0%A4%A',
    'email',
    '=',
    '&&&',
    'email=a%40example.com&email=b%40example.com',
    'email=a@example.com&__proto__[x]=1',
  ),
);

/** A body: text (sent as UTF-8, or as Latin-1 bytes posted as if UTF-8) or raw bytes (e.g. invalid UTF-8). */
type BodySpec = { text: string; encoding: 'utf8' | 'latin1' } | { raw: Uint8Array };
const utf8 = (text: string): BodySpec => ({ text, encoding: 'utf8' });
const bodyOf = (b: BodySpec): Buffer => ('raw' in b ? Buffer.from(b.raw) : Buffer.from(uniquify(b.text), b.encoding));

/** JSON (of objects, arrays, scalars), broken JSON, deep nesting, urlencoded, or raw bytes. */
const bodySpec = fc.oneof(
  { weight: 4, arbitrary: formObject.map((o) => utf8(JSON.stringify(o))) },
  { weight: 1, arbitrary: fc.array(formObject, { maxLength: 3 }).map((a) => utf8(JSON.stringify(a))) },
  { weight: 1, arbitrary: anyJson.map((v) => utf8(JSON.stringify(v) ?? '')) },
  { weight: 2, arbitrary: brokenJson.map(utf8) },
  { weight: 1, arbitrary: deepNesting.map(utf8) },
  { weight: 3, arbitrary: urlencodedBody.map(utf8) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((raw): BodySpec => ({ raw })) },
  { weight: 1, arbitrary: formObject.map((o): BodySpec => ({ text: JSON.stringify(o), encoding: 'latin1' })) },
);

const CONTENT_TYPES = [
  'application/json',
  'Application/JSON',
  'application/json; charset=utf-8',
  'application/json;charset=ISO-8859-1',
  ' application/json ',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=UTF-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'text/plain',
  'text/plain;charset=UTF-8',
  'multipart/form-data; boundary=----fuzz',
  'application/xml',
  'application/jsonx',
  'application/json-patch+json',
  'json',
  '',
];
const contentTypeHeader = fc.option(
  fc.tuple(fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE'), fc.constantFrom(...CONTENT_TYPES)),
  { nil: undefined },
);
/** Header values arrive as bytes read as Latin-1: any of 0x00–0xFF, never a lone surrogate. */
const latin1 = fc.string({
  unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)),
  maxLength: 300,
});
const extraHeaders = fc.dictionary(
  fc.constantFrom('Idempotency-Key', 'idempotency-key', 'Origin', 'X-Forwarded-For', 'Accept', 'Content-Length'),
  latin1,
  { maxKeys: 3 },
);

const formId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FORM_IDS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      '',
      'Newsletter',
      'newsletter ',
      '../newsletter',
      'newsletter%00',
      'a'.repeat(300),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
);

/** What the content-type header says the body is (as the handlers read it: media type, case-insensitive). */
function mediaType(headers: Record<string, string>): string {
  const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type');
  return (entry?.[1] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Whether an accepted form body is acceptable by the contract, checked independently of the handler's schema. */
function plausibleSubmission(r: Request): { email: string; honeypot: boolean } | string {
  const text = r.bytes.toString('utf8');
  let body: unknown;
  try {
    body =
      mediaType(r.headers) === 'application/json' ? JSON.parse(text) : Object.fromEntries(new URLSearchParams(text));
  } catch {
    return 'accepted a body that is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'accepted a body that is not an object';
  const unknown = Object.keys(body).filter((k) => !FORM_FIELDS.includes(k));
  if (unknown.length > 0) return `accepted unknown fields ${JSON.stringify(unknown)}`;
  const fields = new Map(Object.entries(body));
  const email = fields.get('email');
  if (typeof email !== 'string') return 'accepted a submission without an email string';
  const normalized = email.trim().toLowerCase();
  // eslint-disable-next-line no-control-regex
  if (!/^[^\s@]+@[^\s@]+\.[a-z0-9-]{2,}$/iu.test(normalized) || /[\u0000-\u001f\u007f-\u009f]/u.test(normalized)) {
    return `accepted the address ${JSON.stringify(email)}`;
  }
  for (const [k, v] of fields) {
    if (k === 'consent') continue;
    if (typeof v !== 'string') return `accepted a non-string ${k}`;
    // eslint-disable-next-line no-control-regex
    if (k in LINE_FIELDS && /[\u0000-\u001f\u007f]/u.test(v)) return `accepted control characters in ${k}`;
  }
  const website = fields.get('website');
  return { email: normalized, honeypot: typeof website === 'string' && website !== '' };
}

// ---------------------------------------------------------------------------------------------------------------

type Fields = Record<string, unknown>;

const RUNS = 200;
/** Bounds a property's time (mostly shrinking, each step a real request) so a failure stays quick to report. */
const SHRINK_BUDGET = [fc.interruptAfterTimeLimit(10_000)];

describe('fuzz: POST /forms/{formId}', () => {
  it('never answers 5xx; 4xx have the documented shape, stable messages and write nothing; 202 only for valid input', async () => {
    const seen = new Set<number>();
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    await fc.assert(
      fc.asyncProperty(
        formId,
        contentTypeHeader,
        extraHeaders,
        bodySpec,
        fc.boolean(),
        async (id, ct, extra, spec, base64) => {
          const headers = { ...extra, ...(ct ? { [ct[0]]: ct[1] } : {}) };
          const bytes = bodyOf(spec);
          const r: Request = { formId: id, headers, bytes, base64 };
          const out = await invoke(form, r);
          seen.add(out.result.statusCode);
          expect(out.result.statusCode, out.result.body).toBeLessThan(500);

          const kind = mediaType(headers);
          const expected = !Object.hasOwn(FORMS, id)
            ? 404
            : kind !== 'application/json' && kind !== 'application/x-www-form-urlencoded'
              ? 415
              : bytes.length > MAX_FORM_BYTES
                ? 413
                : undefined;
          if (expected !== undefined) expect(out.result.statusCode).toBe(expected);
          if (out.result.statusCode >= 400) {
            expectClientError(out, FORM_MESSAGES);
            await expectStable(form, r, out.result);
            return;
          }
          expect([202, 303]).toContain(out.result.statusCode);
          const valid = plausibleSubmission(r);
          if (typeof valid === 'string') expect.fail(valid);
          if (valid.honeypot) expect(out.writes).toEqual([]);
          else expect(await repo.findLeadIdByEmail(valid.email)).toBeDefined();
        },
      ),
      { numRuns: RUNS, seed: 20260701, plugins: SHRINK_BUDGET },
    );
    // The fuzz reached every outcome, not just the first check; and no `__proto__` key polluted Object.prototype.
    expect([...seen].sort()).toEqual(expect.arrayContaining([202, 400, 404, 415]));
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(Object.keys({})).toEqual([]);
  }, 60_000);

  /** A valid submission built field by field, as JSON or urlencoded. */
  const validSubmission = fc
    .record(
      {
        email: freshEmail,
        line: fc.dictionary(
          fc.constantFrom(...Object.keys(LINE_FIELDS)),
          fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => s.length <= 50 && !/\p{Cc}/u.test(s)),
          { maxKeys: 6 },
        ),
        text: fc.dictionary(
          fc.constantFrom('need', 'message'),
          fc.string({ unit: 'grapheme', maxLength: 300 }).map((s) => s.replace(/\p{Cc}/gu, '\n').slice(0, 2000)),
          { maxKeys: 2 },
        ),
        consent: fc.option(
          fc.constantFrom<boolean | string>(true, false, 'yes', 'no', 'on', 'off', 'true', 'false', '1', '0', ''),
          { nil: undefined },
        ),
        honeypot: fc.option(fc.constantFrom('http://spam.example', 'x', ' '), { nil: undefined, freq: 5 }),
        redirect: fc.option(
          fc.constantFrom('/thanks', '/landing?ok=1#top', 'http://localhost:3000/thanks', 'http://127.0.0.1:3000/'),
          { nil: undefined },
        ),
      },
      { requiredKeys: ['email', 'line', 'text'] },
    )
    .map((s) => ({
      email: s.email,
      fields: {
        ...s.line,
        ...s.text,
        ...(s.consent !== undefined && { consent: s.consent }),
        ...(s.honeypot !== undefined && { website: s.honeypot }),
        ...(s.redirect !== undefined && { redirect: s.redirect }),
      },
    }));

  const encode = (fields: Fields, urlencoded: boolean): { headers: Record<string, string>; bytes: Buffer } =>
    urlencoded
      ? {
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          bytes: Buffer.from(
            new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString(),
            'utf8',
          ),
        }
      : {
          headers: { 'Content-Type': 'application/json; charset=utf-8' },
          bytes: Buffer.from(JSON.stringify(fields), 'utf8'),
        };

  it('accepts every valid submission (202, or 303 to an allowed redirect) and stores its event; a filled honeypot writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        validSubmission,
        fc.constantFrom(...FORM_IDS),
        fc.boolean(),
        fc.boolean(),
        async (generated, id, urlencoded, base64) => {
          const s = { ...generated, email: uniquify(generated.email) };
          const body = { email: s.email, ...s.fields };
          const { headers, bytes } = encode(body, urlencoded);
          const out = await invoke(form, {
            formId: id,
            headers: { ...headers, 'Idempotency-Key': ulid() },
            bytes,
            base64,
          });
          const redirect = typeof s.fields.redirect === 'string' ? s.fields.redirect : undefined;
          if (urlencoded && redirect) {
            // The target resolved against the first allowed origin (no Origin header is sent here).
            expect(out.result.statusCode, out.result.body).toBe(303);
            expect(out.result.headers?.location).toBe(new URL(redirect, allowedOrigins[0]).href);
          } else {
            expect(out.result.statusCode, out.result.body).toBe(202);
            expect(JSON.parse(out.result.body)).toMatchObject({
              status: 'accepted',
              leadId: expect.stringMatching(/^[0-9A-Z]{26}$/),
            });
          }
          const leadId = await repo.findLeadIdByEmail(s.email.trim().toLowerCase());
          // Every generated honeypot value is non-empty (a lone space included): bots fill it, people do not.
          if (s.fields.website !== undefined) {
            expect(out.writes).toEqual([]);
            expect(leadId).toBeUndefined();
            return;
          }
          if (!leadId) return expect.fail(`no lead for ${s.email}`);
          const stored = await repo.listEvents(leadId);
          expect(stored.map((e) => e.type)).toEqual([FORMS[id as keyof typeof FORMS].eventType]);
          expect(stored[0]?.properties.formId).toBe(id);
        },
      ),
      { numRuns: 150, seed: 20260702, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  /** One thing wrong with an otherwise valid submission, the field it concerns, and the documented reason. */
  type Mutation = { field: string; reason: string | RegExp; apply: (f: Fields) => Fields; jsonOnly?: boolean };
  const set = (field: string, value: unknown) => (f: Fields) =>
    objectOf([...Object.entries(f).filter(([k]) => k !== field), [field, value]]);
  const lineField = fc.constantFrom(...Object.keys(LINE_FIELDS));
  const mutations: fc.Arbitrary<Mutation> = fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...FORM_FIELDS.filter((f) => f !== 'email' && f !== 'consent')),
        fc.constantFrom<unknown>(42, true, null, ['a'], { a: 1 }),
      )
      .map(([field, value]) => ({ field, reason: 'must be a string', apply: set(field, value), jsonOnly: true })),
    fc.constantFrom<unknown>(42, false, null, ['a@example.com'], { email: 'a@example.com' }).map((value) => ({
      field: 'email',
      reason: 'must be a string',
      apply: set('email', value),
      jsonOnly: true,
    })),
    fc.constant({
      field: 'email',
      reason: 'is required',
      apply: (f: Fields) => objectOf(Object.entries(f).filter(([k]) => k !== 'email')),
    }),
    fc.constantFrom('', '   ').map((v) => ({ field: 'email', reason: 'is required', apply: set('email', v) })),
    fc
      .constantFrom(
        'plainaddress',
        'a@b',
        '@example.com',
        'a b@example.com',
        'a@example.c',
        'a@@example.com',
        'a@exa mple.com',
        '<a@example.com>',
        'a@example.com,b@example.com',
        'a@example.com\r\nBcc: x@example.com',
        `${'x'.repeat(250)}@example.com`,
      )
      .map((v) => ({
        field: 'email',
        reason: /^is not a valid email address$|^is longer than 254 characters$/,
        apply: set('email', v),
      })),
    fc.tuple(lineField, fc.integer({ min: 1, max: 40 })).map(([field, extra]) => ({
      field,
      reason: `is longer than ${LINE_FIELDS[field] ?? 0} characters`,
      apply: set(field, 'x'.repeat((LINE_FIELDS[field] ?? 0) + extra)),
    })),
    fc.tuple(lineField, fc.constantFrom('\r\n', '\n', '\r', '\u0000', '\u001b', '\u007f', '\t')).map(([field, c]) => ({
      field,
      reason: 'must not contain control characters or line breaks',
      apply: set(field, `Ada${c}Lovelace`),
    })),
    fc
      .tuple(fc.constantFrom('need', 'message'), fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u000b'))
      .map(([field, c]) => ({
        field,
        reason: 'must not contain control characters',
        apply: set(field, `line one\nline${c}two`),
      })),
    fc.constantFrom('maybe', '2', 'Y', 'checked').map((v) => ({
      field: 'consent',
      reason: 'must be yes/no, on/off, true/false or 1/0',
      apply: set('consent', v),
    })),
    fc.constantFrom<unknown>(2, null, ['yes']).map((v) => ({
      field: 'consent',
      reason: 'must be yes/no, on/off, true/false or 1/0',
      apply: set('consent', v),
      jsonOnly: true,
    })),
    fc
      .constantFrom('first_name', 'Email', 'utm_id', 'phoneNumber', 'emali', 'gclid')
      .map((k) => ({ field: k, reason: 'is not a known field', apply: set(k, 'x') })),
    fc
      .constantFrom(
        'https://evil.example/x',
        '//evil.example',
        '/\\evil.example',
        'javascript:alert(1)',
        'http://localhost:3001/',
      )
      .map((v) => ({
        field: 'redirect',
        // Off-site targets, or ones no browser-safe URL looks like (the schema's own reason).
        reason: /^is not on an allowed origin$|^must be a URL without spaces, control characters or backslashes$/,
        apply: set('redirect', v),
      })),
  );

  /** Submits `mutation` applied to a valid submission and expects a 400 naming its field with its reason, and no write. */
  async function expectRejected(
    s: { email: string; fields: Fields },
    m: Mutation,
    id: string,
    urlencoded: boolean,
  ): Promise<void> {
    const plain = objectOf(Object.entries({ email: uniquify(s.email), ...s.fields }).filter(([k]) => k !== 'website'));
    const { headers, bytes } = encode(m.apply(plain), urlencoded && !m.jsonOnly);
    const r: Request = { formId: id, headers, bytes, base64: false };
    const out = await invoke(form, r);
    expect(out.result.statusCode, out.result.body).toBe(400);
    const body = expectClientError(out, FORM_MESSAGES);
    expect(body).toMatchObject({ error: 'ValidationError', message: 'invalid form submission' });
    expect([...body.fields.keys()]).toContain(m.field);
    expect(body.fields.get(m.field)).toMatch(m.reason);
    await expectStable(form, r, out.result);
  }

  it('rejects a submission with one thing wrong with a 400 naming the field and its reason, writing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(validSubmission, mutations, fc.constantFrom(...FORM_IDS), fc.boolean(), (s, m, id, urlencoded) =>
        expectRejected(s, m, id, urlencoded),
      ),
      { numRuns: RUNS, seed: 20260703, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('names an unknown field even when it is called like an Object.prototype member (__proto__, constructor, …)', async () => {
    await fc.assert(
      fc.asyncProperty(validSubmission, fc.constantFrom(...PROTO_KEYS), fc.boolean(), (s, key, urlencoded) =>
        expectRejected(s, { field: key, reason: 'is not a known field', apply: set(key, 'x') }, 'contact', urlencoded),
      ),
      { numRuns: 40, seed: 20260704, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('rejects an address with control characters in it (NUL, ESC, DEL, C1) as not a valid email address', async () => {
    const withControl = fc
      .tuple(
        fc.constantFrom('\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\u009b'),
        fc.constantFrom('local', 'domain'),
      )
      .map(([c, where]) => (where === 'local' ? `ada${c}lovelace@example.com` : `ada@exam${c}ple.com`));
    await fc.assert(
      fc.asyncProperty(validSubmission, withControl, fc.boolean(), (s, email, urlencoded) =>
        expectRejected(
          s,
          { field: 'email', reason: 'is not a valid email address', apply: set('email', email) },
          'newsletter',
          urlencoded,
        ),
      ),
      { numRuns: 40, seed: 20260705, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('refuses a redirect that a browser would follow off the site or that would split the Location header', async () => {
    // Browsers drop tabs and line breaks from URLs, so "/\t/evil.example" is "//evil.example": an open redirect.
    const offSite = fc.constantFrom(
      '/\t/evil.example',
      '/\n/evil.example',
      '/\r\n/evil.example',
      '/thanks\r\nSet-Cookie: session=evil',
      '/thanks\u0000',
    );
    await fc.assert(
      fc.asyncProperty(validSubmission, offSite, (s, target) =>
        expectRejected(s, { field: 'redirect', reason: /./, apply: set('redirect', target) }, 'newsletter', true),
      ),
      { numRuns: 30, seed: 20260706, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('never answers 5xx for text with lone surrogates (any UTF-16 code units) in a JSON field', async () => {
    await fc.assert(
      fc.asyncProperty(
        freshEmail,
        fc.constantFrom(...Object.keys(LINE_FIELDS), 'message', 'email'),
        utf16Text,
        async (address, field, value) => {
          const email = uniquify(address);
          const fields = field === 'email' ? { email: `${value}.${email}` } : { email, [field]: value };
          const r: Request = {
            formId: 'contact',
            headers: { 'content-type': 'application/json' },
            bytes: Buffer.from(JSON.stringify(fields), 'utf8'),
            base64: false,
          };
          const out = await invoke(form, r);
          expect(out.result.statusCode, `${JSON.stringify(value)} in ${field}: ${out.result.body}`).toBeLessThan(500);
        },
      ),
      { numRuns: 150, seed: 20260707, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('refuses bodies over 16 KiB (counted in bytes, after base64 decoding) with 413 and accepts them up to it', async () => {
    await fc.assert(
      fc.asyncProperty(
        freshEmail,
        fc.integer({ min: MAX_FORM_BYTES - 48, max: MAX_FORM_BYTES + 48 }),
        fc.constantFrom('a', 'é', '€', '𝒜'),
        fc.boolean(),
        fc.boolean(),
        async (address, target, filler, base64, urlencoded) => {
          const email = uniquify(address);
          // Multi-byte text in a free-text field up to about 7 KB on the wire, then padding to the exact size: JSON
          // whitespace, or empty urlencoded pairs.
          const perChar = urlencoded ? encodeURIComponent(filler).length : Buffer.byteLength(filler);
          const fields: Fields = {
            email,
            message: filler.repeat(Math.min(Math.floor(3900 / filler.length), Math.floor(7000 / perChar))),
          };
          const encoded = encode(fields, urlencoded);
          const headers = encoded.headers;
          const pad = target - encoded.bytes.length;
          expect(pad).toBeGreaterThan(0);
          const bytes = Buffer.concat([encoded.bytes, Buffer.from((urlencoded ? '&' : ' ').repeat(pad))]);
          expect(bytes.length).toBe(target);
          const out = await invoke(form, { formId: 'content-download', headers, bytes, base64 });
          if (target > MAX_FORM_BYTES) {
            expect(out.result.statusCode).toBe(413);
            expectClientError(out, FORM_MESSAGES);
          } else {
            expect(out.result.statusCode, out.result.body).toBe(202);
          }
        },
      ),
      { numRuns: 100, seed: 20260708, plugins: SHRINK_BUDGET },
    );
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------------

const EventsAnswer = z.strictObject({
  accepted: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
  rejected: z.array(z.strictObject({ index: z.number().int().nonnegative(), error: z.string().min(1) })),
});

const EVENT_TYPES = [
  'page_viewed',
  'pricing_page_viewed',
  'content_download',
  'webinar_attended',
  'email_opened',
  'demo_requested',
];

describe('fuzz: POST /events', () => {
  const eventKey = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('eventId', 'email', 'leadId', 'type', 'occurredAt', 'properties') },
    { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS, 'Type', 'event_id', '') },
  );
  const propertyValue = fc.oneof(anyText, fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null));
  const properties = fc.oneof(
    fc.dictionary(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom(...PROTO_KEYS)),
      propertyValue,
      { maxKeys: 5 },
    ),
    anyJson,
  );
  const randomEvent = fc.oneof(
    // Mostly well-formed, with something random in a field.
    fc
      .record(
        {
          eventId: fc.oneof(fc.string({ unit: 'binary', maxLength: 140 }), fc.constantFrom('ok-1', 'a b', '../x', 'é')),
          email: fc.oneof(freshEmail, anyText),
          leadId: fc.oneof(fc.constant('01ARZ3NDEKTSV4RRFFQ69G5FAV'), anyText),
          type: fc.oneof(fc.constantFrom(...EVENT_TYPES), anyText),
          occurredAt: fc.oneof(
            fc
              .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
              .map((d) => d.toISOString()),
            fc.constantFrom(
              '2026-13-01T00:00:00Z',
              'yesterday',
              '0000-01-01T00:00:00Z',
              '2026-01-01T00:00:00+14:00',
              '2026-01-01',
            ),
          ),
          properties,
        },
        { requiredKeys: [] },
      )
      .map((e) => objectOf(Object.entries(e))),
    fc.array(fc.tuple(eventKey, fc.oneof(anyText, anyJson)), { maxLength: 6 }).map(objectOf),
    anyJson,
  );
  const batchBody = fc.oneof(
    { weight: 5, arbitrary: fc.array(randomEvent, { maxLength: 12 }).map((evs) => JSON.stringify({ events: evs })) },
    {
      weight: 1,
      arbitrary: fc
        .array(randomEvent, { minLength: 101, maxLength: 103 })
        .map((evs) => JSON.stringify({ events: evs })),
    },
    { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? '') },
    { weight: 1, arbitrary: formObject.map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: brokenJson },
    { weight: 1, arbitrary: deepNesting.map((d) => `{"events":[${d}]}`) },
  );

  it('never answers 5xx; 4xx are documented; a 202 accounts for every event and writes only for those not rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        batchBody,
        fc.option(
          fc.constantFrom(
            'application/json',
            'Application/Json; charset=utf-8',
            'text/plain',
            'application/x-www-form-urlencoded',
            '',
          ),
          { nil: undefined },
        ),
        fc.boolean(),
        async (generated, ct, base64) => {
          const headers: Record<string, string> = {
            'x-api-key': 'fuzz-key',
            ...(ct !== undefined && { 'Content-Type': ct }),
          };
          const text = uniquify(generated);
          const r: Request = { headers, bytes: Buffer.from(text, 'utf8'), base64 };
          const out = await invoke(events, r);
          expect(out.result.statusCode, out.result.body).toBeLessThan(500);
          if (mediaType(headers) !== 'application/json') expect(out.result.statusCode).toBe(415);
          if (out.result.statusCode >= 400) {
            expectClientError(out, EVENT_MESSAGES);
            await expectStable(events, r, out.result);
            return;
          }
          expect(out.result.statusCode).toBe(202);
          const parsed = z.object({ events: z.array(z.unknown()) }).parse(JSON.parse(text));
          const answer = EventsAnswer.parse(JSON.parse(out.result.body));
          expect(answer.accepted + answer.duplicates + answer.rejected.length).toBe(parsed.events.length);
          const indexes = answer.rejected.map((x) => x.index);
          expect(indexes).toEqual([...new Set(indexes)].sort((a, b) => a - b));
          for (const x of answer.rejected) {
            expect(x.index).toBeLessThan(parsed.events.length);
            expect(x.error).not.toMatch(/\.ts:\d+|Exception|stack/);
          }
          // One conditional put per event that was not rejected; a rejected event writes nothing at all.
          const puts = eventPuts(out.writes);
          expect(puts).toHaveLength(answer.accepted + answer.duplicates);
          if (answer.accepted + answer.duplicates === 0) expect(out.writes).toEqual([]);
        },
      ),
      { numRuns: RUNS, seed: 20260709, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  /** A valid event, or one with one documented thing wrong (and the error it must be rejected with). */
  const validEvent = fc.record({
    eventId: fc
      .string({ unit: fc.constantFrom(...'abcXYZ019_.:-'), minLength: 1, maxLength: 40 })
      .map((s) => `${s}-${MARK}`),
    email: freshEmail,
    type: fc.constantFrom(...EVENT_TYPES),
    properties: fc.dictionary(
      // Property names are identifiers (letters, digits, _ . : -), never an Object.prototype member.
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,20}$/).filter((k) => !(k in Object.prototype)),
      fc.oneof(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer(), fc.boolean(), fc.constant(null)),
      { maxKeys: 4 },
    ),
  });
  const eventMutation = fc.oneof(
    fc
      .constantFrom('signup', 'PAGE_VIEWED', '', 'page viewed')
      .map((t) => ({ error: /^type: /, apply: (e: Fields) => ({ ...e, type: t }) })),
    fc.constant({
      error: /^email: needs email or leadId$/,
      apply: (e: Fields) => objectOf(Object.entries(e).filter(([k]) => k !== 'email')),
    }),
    fc
      .constantFrom('a b', 'x/y', 'é', '', 'x'.repeat(129))
      .map((id) => ({ error: /^eventId: /, apply: (e: Fields) => ({ ...e, eventId: id }) })),
    fc.constant({
      error: /^occurredAt: is in the future$/,
      apply: (e: Fields) => ({ ...e, occurredAt: '2999-01-01T00:00:00Z' }),
    }),
    fc
      .constantFrom('yesterday', '2026-13-01T00:00:00Z')
      .map((t) => ({ error: /^occurredAt: /, apply: (e: Fields) => ({ ...e, occurredAt: t }) })),
    fc
      .constantFrom('source', 'userId', 'Type')
      .map((k) => ({ error: new RegExp(`^${k}: is not a known field$`), apply: (e: Fields) => ({ ...e, [k]: 'x' }) })),
    fc.constant({ error: /^properties/, apply: (e: Fields) => ({ ...e, properties: { nested: { a: 1 } } }) }),
    fc.constant({ error: /^properties/, apply: (e: Fields) => ({ ...e, properties: ['a'] }) }),
    fc.constant({
      error: /^leadId: no such lead$/,
      apply: (e: Fields) => ({
        ...objectOf(Object.entries(e).filter(([k]) => k !== 'email')),
        leadId: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      }),
    }),
    fc
      .constantFrom('not-an-address', 'a@b', 42)
      .map((v) => ({ error: /^email: /, apply: (e: Fields) => ({ ...e, email: v }) })),
  );

  it('accepts exactly the valid events of a mixed batch and rejects each invalid one by index with its reason', async () => {
    const item = fc.oneof(
      validEvent.map((e) => ({ body: objectOf(Object.entries(e)), error: undefined })),
      fc
        .tuple(validEvent, eventMutation)
        .map(([e, m]) => ({ body: m.apply(objectOf(Object.entries(e))), error: m.error })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 10 }), async (items) => {
        const text = uniquify(JSON.stringify({ events: items.map((i) => i.body) }));
        const r: Request = { headers: { 'content-type': 'application/json' }, bytes: Buffer.from(text), base64: false };
        const out = await invoke(events, r);
        expect(out.result.statusCode, out.result.body).toBe(202);
        const answer = EventsAnswer.parse(JSON.parse(out.result.body));
        const invalid = items.flatMap((i, index) => (i.error ? [{ index, error: i.error }] : []));
        expect(answer.accepted).toBe(items.length - invalid.length);
        expect(answer.duplicates).toBe(0);
        expect(answer.rejected.map((x) => x.index)).toEqual(invalid.map((x) => x.index));
        for (const [k, x] of answer.rejected.entries()) expect(x.error).toMatch(invalid[k]?.error ?? /^$/);
        expect(eventPuts(out.writes)).toHaveLength(answer.accepted);
      }),
      { numRuns: 150, seed: 20260710, plugins: SHRINK_BUDGET },
    );
  }, 60_000);

  it('never answers 5xx for awkward but schema-valid properties (big or tiny numbers, lone surrogates, keys like constructor)', async () => {
    const awkward = fc.oneof(
      fc
        .constantFrom<unknown>(Number.MAX_SAFE_INTEGER + 2, 1e20, -1e20, 1e200, 1e-200, 5e-324, Number.MAX_VALUE)
        .map((value) => ({ value })),
      utf16Text.filter((s) => /[\ud800-\udfff]/.test(s)).map((value) => ({ value })),
      fc
        .tuple(fc.constantFrom(...PROTO_KEYS), fc.constantFrom<unknown>('x', 1, true, null))
        .map(([k, v]) => objectOf([[k, v]])),
    );
    await fc.assert(
      fc.asyncProperty(freshEmail, awkward, fc.boolean(), async (address, properties, withId) => {
        const event = {
          ...(withId && { eventId: `awkward-${ulid()}` }),
          email: uniquify(address),
          type: 'page_viewed',
          properties,
        };
        const out = await invoke(events, {
          headers: { 'content-type': 'application/json' },
          bytes: Buffer.from(JSON.stringify({ events: [event] })),
          base64: false,
        });
        expect(out.result.statusCode, `${JSON.stringify(event)}: ${out.result.body}`).toBeLessThan(500);
      }),
      { numRuns: 60, seed: 20260711, plugins: SHRINK_BUDGET },
    );
  }, 60_000);
});
