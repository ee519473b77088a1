import { Logger } from '@aws-lambda-powertools/logger';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSecretKey, MASK, maskingJsonReplacer, maskLogText } from '../../lambdas/adapters/log-masking.js';

const masked = (value: unknown): unknown => JSON.parse(JSON.stringify(value, maskingJsonReplacer));

describe('maskLogText', () => {
  it.each([
    ['lead jane.doe@example.com captured', 'lead j***@example.com captured'],
    ['a@b.co and Bob+news@mail.example.co.uk', 'a***@b.co and B***@mail.example.co.uk'],
    ['email=jane.doe%40example.com&consent=on', 'email=j***%40example.com&consent=on'],
    ['/unsubscribe?token=eyJsZWFk.c2ln&lang=en', `/unsubscribe?token=${MASK}&lang=en`],
    ['GET /x?a=1&api_key=abc123 HTTP/1.1', `GET /x?a=1&api_key=${MASK} HTTP/1.1`],
    ['{"email":"jo@example.org","token":"s3cr\\"et"}', `{"email":"j***@example.org","token":"${MASK}"}`],
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload', `Authorization: Bearer ${MASK}`],
  ])('%s', (input, expected) => {
    expect(maskLogText(input)).toBe(expected);
  });

  it.each([
    'installed uuid@14.0.3',
    'at /var/task/node_modules/@aws-sdk/client-sesv2/dist/index.js:12:7',
    'nextToken=AAAABBBB&limit=10',
    'ConditionalCheckFailedException: The conditional request failed',
  ])('leaves %s alone', (input) => {
    expect(maskLogText(input)).toBe(input);
  });

  it('never shows more of an address than its first character and domain, and is idempotent', () => {
    const local = fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{1,20}$/);
    const domain = fc
      .tuple(fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.constantFrom('com', 'org', 'io', 'co.uk'))
      .map(([name, tld]) => `${name}.${tld}`);
    const text = fc.stringMatching(/^[A-Za-z0-9 ,:()]{0,20}$/);
    fc.assert(
      fc.property(local, domain, text, text, (l, d, before, after) => {
        const line = `${before} ${l}@${d} ${after}`;
        const out = maskLogText(line);
        expect(out).not.toContain(`${l}@`);
        expect(out).toContain(`${l.charAt(0)}${MASK}@${d}`);
        expect(maskLogText(out)).toBe(out);
      }),
    );
  });

  it('is idempotent on any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), (s) => {
        const once = maskLogText(s);
        expect(maskLogText(once)).toBe(once);
      }),
    );
  });
});

describe('maskingJsonReplacer', () => {
  it('names credentials without case or punctuation', () => {
    expect(['Authorization', 'x-api-key', 'X-Admin-Key', 'token', 'UNSUBSCRIBE_SECRET'].every(isSecretKey)).toBe(true);
    expect(['nextToken', 'email', 'leadId', 'idempotency-key'].some(isSecretKey)).toBe(false);
  });

  it('masks an API Gateway event: credential headers, the token parameter, the email in the body', () => {
    const event = {
      path: '/unsubscribe',
      headers: {
        Authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/…',
        'x-api-key': 'k-123',
        'content-type': 'text/plain',
      },
      multiValueHeaders: { 'X-Api-Key': ['k-123'] },
      queryStringParameters: { token: 'eyJsZWFk.c2ln', lang: 'en' },
      multiValueQueryStringParameters: { token: ['eyJsZWFk.c2ln'] },
      body: 'email=jane%40example.com&firstName=Jane',
      requestContext: { identity: { sourceIp: '203.0.113.9' } },
    };
    expect(masked(event)).toEqual({
      path: '/unsubscribe',
      headers: { Authorization: MASK, 'x-api-key': MASK, 'content-type': 'text/plain' },
      multiValueHeaders: { 'X-Api-Key': [MASK] },
      queryStringParameters: { token: MASK, lang: 'en' },
      multiValueQueryStringParameters: { token: [MASK] },
      body: 'email=j***%40example.com&firstName=Jane',
      requestContext: { identity: { sourceIp: '203.0.113.9' } },
    });
  });

  it('masks nested values and array items, and keeps other types', () => {
    expect(masked({ lead: { email: 'sam@example.com', score: 42, tags: ['x', 'ann@example.net'] }, ok: true })).toEqual(
      {
        lead: { email: `s${MASK}@example.com`, score: 42, tags: ['x', `a${MASK}@example.net`] },
        ok: true,
      },
    );
  });
});

describe('on a Powertools logger (jsonReplacerFn)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The JSON lines the logger writes while `log` runs. */
  function captureLines(log: (logger: Logger) => void): unknown[] {
    const lines: string[] = [];
    const capture = (chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    log(new Logger({ serviceName: 'leadloop', logLevel: 'DEBUG', jsonReplacerFn: maskingJsonReplacer }));
    return lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.trim() !== '')
      .map((l): unknown => JSON.parse(l));
  }

  it('masks the message, persistent keys, extra objects and errors of every entry', () => {
    const lines = captureLines((logger) => {
      logger.appendPersistentKeys({ contact: 'owner@example.com' });
      logger.info('captured lead for jane@example.com', { headers: { 'x-api-key': 'k-123' } });
      logger.error('send failed', new Error('SES rejected bob@example.org (token=abc)'));
    });
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/jane@|owner@|bob@|k-123|token=abc/);
    expect(lines[0]).toMatchObject({
      message: `captured lead for j${MASK}@example.com`,
      contact: `o${MASK}@example.com`,
      headers: { 'x-api-key': MASK },
    });
    expect(lines[1]).toMatchObject({
      error: { name: 'Error', message: `SES rejected b${MASK}@example.org (token=${MASK})` },
    });
  });
});
