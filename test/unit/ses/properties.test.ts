import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventProperties, LeadEvent } from '../../../lambdas/domain/events.js';
import {
  mapSesRecord,
  parseSesRecord,
  parseSesSqsBody,
  SesRecordError,
  type PriorClick,
} from '../../../lambdas/domain/ses-events.js';
import { FIXTURES, fixtureBody, fixtureEvent, isJsonObject, objectAt, type Json } from './fixtures.js';

/** Outcome of parsing: the record, or the error thrown. Anything else thrown escapes and fails the property. */
function tryParse(body: string): { ok: true } | { ok: false; error: unknown } {
  try {
    parseSesSqsBody(body);
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

const expectOnlySesRecordErrors = (body: string): void => {
  const outcome = tryParse(body);
  if (!outcome.ok) {
    expect(outcome.error).toBeInstanceOf(SesRecordError);
    if (outcome.error instanceof SesRecordError) expect(outcome.error.field).not.toBe('');
  }
};

/** Every path into a JSON value, the root included. */
function pathsOf(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(value.flatMap((item, i) => pathsOf(item, [...prefix, i])));
  if (isJsonObject(value)) return here.concat(Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...prefix, k])));
  return here;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A copy of `root` with the value at `path` replaced (or removed when `replacement` is undefined). */
function withValueAt(root: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  const [key, ...rest] = path;
  if (key === undefined) return replacement;
  if (Array.isArray(root) && typeof key === 'number') {
    const copy: unknown[] = [...root];
    const next = withValueAt(copy[key], rest, replacement);
    if (next === undefined) copy.splice(key, 1);
    else copy[key] = next;
    return copy;
  }
  if (isRecord(root) && typeof key === 'string') {
    const copy = { ...root };
    const next = withValueAt(copy[key], rest, replacement);
    if (next === undefined) delete copy[key];
    else copy[key] = next;
    return copy;
  }
  return root;
}

/** A fixture with one value somewhere in it replaced by arbitrary JSON, or removed: mostly almost-valid records. */
const mutatedFixture = fc
  .constantFrom(...FIXTURES, 'malformed' as const)
  .map((name) => fixtureEvent(name) as Json)
  .chain((event) =>
    fc.tuple(
      fc.constant(event),
      fc.constantFrom(...pathsOf(event)),
      fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
    ),
  )
  .map(([event, path, replacement]) => JSON.stringify(withValueAt(event, path, replacement) ?? null));

describe('parsing never throws anything but SesRecordError', () => {
  it('on arbitrary strings', () => {
    fc.assert(fc.property(fc.string(), expectOnlySesRecordErrors));
  });

  it('on arbitrary JSON', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), expectOnlySesRecordErrors));
  });

  it('on fixtures with one value replaced or removed', () => {
    fc.assert(fc.property(mutatedFixture, expectOnlySesRecordErrors), { numRuns: 500 });
  });

  it('on arbitrary bare records', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        try {
          parseSesRecord(value);
        } catch (error) {
          expect(error).toBeInstanceOf(SesRecordError);
        }
      }),
    );
  });
});

const instant = fc
  .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const link = fc.webUrl({ withQueryParameters: true, withFragments: true });
const userAgent = fc.oneof(
  fc.constantFrom(
    'Mozilla/5.0',
    'python-requests/2.31.0',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36',
  ),
  fc.string({ maxLength: 200 }),
);
const address = fc.emailAddress();

/** A click record from the fixture with the fields that vary in real traffic generated. */
const clickBody = fc
  .record({ timestamp: instant, link, userAgent, destination: fc.array(address, { minLength: 1, maxLength: 3 }) })
  .map(({ timestamp, link, userAgent, destination }) => {
    const event = fixtureEvent('click-human');
    Object.assign(objectAt(event.detail, 'click'), { timestamp, link, userAgent });
    objectAt(event.detail, 'mail').destination = destination;
    return JSON.stringify(event);
  });

const priorClicks: fc.Arbitrary<PriorClick[]> = fc.array(fc.record({ link, at: instant }), { maxLength: 5 });

describe('mapping is deterministic', () => {
  it('maps the same body and context to the same events, however often it is delivered', () => {
    fc.assert(
      fc.property(clickBody, priorClicks, fc.option(instant, { nil: undefined }), (body, prior, deliveredAt) => {
        const ctx = { priorClicks: prior, ...(deliveredAt === undefined ? {} : { deliveredAt }) };

        const first = mapSesRecord(parseSesSqsBody(body), ctx);
        const again = mapSesRecord(parseSesSqsBody(body), ctx);

        expect(again).toEqual(first);
      }),
    );
  });

  it('gives the same id whatever the context, since classification only adds properties', () => {
    fc.assert(
      fc.property(clickBody, priorClicks, (body, prior) => {
        const record = parseSesSqsBody(body);

        const ids = mapSesRecord(record).map((e) => e.eventId);

        expect(mapSesRecord(record, { priorClicks: prior }).map((e) => e.eventId)).toEqual(ids);
      }),
    );
  });

  it('gives two clicks the same id exactly when they share link and time', () => {
    const click = fc.record({ timestamp: instant, link });
    fc.assert(
      fc.property(click, click, (a, b) => {
        const idOf = (c: { timestamp: string; link: string }) => {
          const event = fixtureEvent('click-human');
          Object.assign(objectAt(event.detail, 'click'), c);
          return mapSesRecord(parseSesSqsBody(JSON.stringify(event)))[0]?.eventId;
        };

        expect(idOf(a) === idOf(b)).toBe(a.timestamp === b.timestamp && a.link === b.link);
      }),
    );
  });

  it('maps every record that parses to events whose fields a LeadEvent accepts', () => {
    fc.assert(
      fc.property(fc.oneof(clickBody, mutatedFixture), (body) => {
        let record;
        try {
          record = parseSesSqsBody(body);
        } catch {
          return;
        }
        for (const event of mapSesRecord(record)) {
          expect(EventProperties.safeParse(event.properties).success).toBe(true);
          const stored = { ...event, leadId: event.leadId ?? 'lead', receivedAt: event.occurredAt, source: 'ses' };
          expect(LeadEvent.safeParse(stored).success).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('fixtures as properties', () => {
  it.each(FIXTURES)('%s: mapping the parsed fixture twice gives equal events', (name) => {
    const body = fixtureBody(name);

    expect(mapSesRecord(parseSesSqsBody(body))).toEqual(mapSesRecord(parseSesSqsBody(body)));
  });
});
