import { describe, expect, it } from 'vitest';
import { canonical, digest, jsonDigest, readGolden, runSteps } from './golden-cases.js';

/**
 * Scoring results pinned bit for bit (test/fixtures/scoring/golden.json, written by golden-cases.ts): every step of
 * every case — whole histories, one event per call, random batches, model changes, sweeps — must give exactly the
 * result it gave when the fixture was written, down to the order of keys. Inputs are frozen, so a scoring run that
 * writes to them fails too.
 */
const { golden, models } = readGolden();

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

describe('golden scoring results', () => {
  it('cover every kind of step and a few hundred histories', () => {
    const ops = new Set(golden.cases.flatMap((c) => c.steps.map((s) => s.op)));
    expect([...ops].sort()).toEqual(['apply', 'requalify', 'rescore', 'unresponsive']);
    expect(golden.cases.length).toBeGreaterThanOrEqual(300);
  });

  it.each(golden.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const results = runSteps(
      deepFreeze(structuredClone(c.lead)),
      deepFreeze(structuredClone(c.steps)),
      models,
      c.stored,
    );
    const digests = results.map(digest);
    const first = digests.findIndex((d, i) => d !== c.digests[i]);
    if (first >= 0 && first < results.length - 1) {
      // Name the first step that differs; its full result is not stored, so show what it is now.
      expect.fail(`step ${first} (${c.steps[first]?.op}) differs: ${canonical(results[first])}`);
    }
    expect(JSON.parse(canonical(results.at(-1)))).toEqual(c.final);
    expect(digests).toEqual(c.digests);
    // Same values in the same key order: the stored and serialized lead is the same text.
    expect(results.map(jsonDigest)).toEqual(c.jsonDigests);
  });
});
