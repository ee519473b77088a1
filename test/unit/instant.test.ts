import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatInstant, parseInstant, storedInstant } from '../../lambdas/domain/instant.js';

/** From year 0 to year 10000 and a little beyond on both sides, where the built-ins change format. */
const MS = fc.integer({ min: -62_200_000_000_000, max: 253_500_000_000_000 });
const same = (a: number, b: number): boolean => Object.is(a, b);

/** Thousands of runs each; give them room on a busy machine. */
const ROOMY = { timeout: 60_000 };

describe('instants', () => {
  it('parse canonical text exactly as Date.parse does', ROOMY, () => {
    fc.assert(
      fc.property(MS, (ms) => {
        const text = new Date(ms).toISOString();
        expect(same(parseInstant(text), Date.parse(text))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('parse every other text exactly as Date.parse does', ROOMY, () => {
    const shaped = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 999 }),
      )
      .map(
        ([y, mo, d, h, mi, s, ms]) =>
          `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T` +
          `${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:${String(s).padStart(2, '0')}.` +
          `${String(ms).padStart(3, '0')}Z`,
      );
    const mangled = fc.tuple(MS, fc.nat(23), fc.string({ minLength: 0, maxLength: 2 })).map(([ms, at, s]) => {
      const text = new Date(ms).toISOString();
      return text.slice(0, at) + s + text.slice(at + 1);
    });
    const other = fc.constantFrom(
      '2025-01-06T09:00:00Z',
      '2025-01-06T09:00:00.000+01:00',
      '2025-01-06T09:00:00.0001Z',
      '2025-01-06',
      '2025-02-29T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2025-01-06T24:00:00.000Z',
      '2025-01-06t09:00:00.000z',
      '',
      'not a date',
    );
    fc.assert(
      fc.property(fc.oneof(shaped, mangled, other), (text) => {
        expect(same(parseInstant(text), Date.parse(text))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('format exactly as toISOString does, fractions and far years included', ROOMY, () => {
    const values = fc.oneof(
      MS,
      fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }),
      fc.constantFrom(-0, 0.5, -0.5, 8.64e15, -8.64e15),
    );
    fc.assert(
      fc.property(values, (ms) => {
        expect(formatInstant(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('agree with the built-ins over any sequence of reads and writes (the last of each is remembered)', ROOMY, () => {
    const text = fc.oneof(
      MS.map((ms) => new Date(ms).toISOString()),
      MS.map((ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')),
      fc.constantFrom('2025-01-06T09:00:00Z', '2025-01-06T09:00:00.000Z', '2025-02-30T09:00:00.000Z', 'x'),
    );
    const op = fc.oneof(
      text.map((t) => ({ read: t })),
      fc.oneof(MS, fc.constantFrom(1_736_154_000_000, 1_736_154_000_000.5)).map((ms) => ({ write: ms })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        for (const o of ops) {
          if ('read' in o) expect(same(parseInstant(o.read), Date.parse(o.read))).toBe(true);
          else expect(formatInstant(o.write)).toBe(new Date(o.write).toISOString());
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('throw as toISOString does for an invalid time', ROOMY, () => {
    for (const ms of [NaN, Infinity, 8.64e15 + 1]) {
      expect(() => new Date(ms).toISOString()).toThrow(RangeError);
      expect(() => formatInstant(ms)).toThrow(RangeError);
    }
  });

  it('say what a stored instant reads back as', ROOMY, () => {
    fc.assert(
      fc.property(fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }), (ms) => {
        expect(same(storedInstant(ms), Date.parse(new Date(ms).toISOString()))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    expect(storedInstant(NaN)).toBeNaN();
  });
});
