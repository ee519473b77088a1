import { describe, expect, it } from 'vitest';
import { newcombeInterval, sampleSizePerArm, wilsonInterval } from '../../../lambdas/domain/experiments/statistics.js';

const rounded = (i: { low: number; high: number } | undefined) => i && [i.low.toFixed(4), i.high.toFixed(4)];

describe('the Wilson score interval', () => {
  // Newcombe RG (1998), Two-sided confidence intervals for the single proportion, Stat Med 17:857–872, Table I
  // (method 3, score interval without continuity correction).
  it.each([
    [81, 263, '0.2553', '0.3662'],
    [15, 148, '0.0624', '0.1605'],
    [0, 20, '0.0000', '0.1611'],
    [1, 29, '0.0061', '0.1718'],
    [29, 29, '0.8830', '1.0000'],
  ])('%i/%i is %s to %s (Newcombe 1998, single proportion)', (x, n, low, high) => {
    expect(rounded(wilsonInterval(x, n))).toEqual([low, high]);
  });

  it('has none for no trials or impossible counts', () => {
    expect(wilsonInterval(0, 0)).toBeUndefined();
    expect(wilsonInterval(3, 2)).toBeUndefined();
  });
});

describe("Newcombe's hybrid score interval for a difference of proportions", () => {
  // Newcombe RG (1998), Interval estimation for the difference between independent proportions: comparison of
  // eleven methods, Stat Med 17:873–890, Table II, method 10.
  it.each([
    [56, 70, 48, 80, '0.0524', '0.3339'],
    [9, 10, 3, 10, '0.1705', '0.8090'],
    [6, 7, 2, 7, '0.0582', '0.8062'],
    [5, 56, 0, 29, '-0.0381', '0.1926'],
    [0, 10, 0, 20, '-0.1611', '0.2775'],
    [0, 10, 0, 10, '-0.2775', '0.2775'],
    [10, 10, 0, 20, '0.6791', '1.0000'],
    [10, 10, 0, 10, '0.6075', '1.0000'],
  ])('%i/%i − %i/%i is %s to %s (Newcombe 1998, method 10)', (x1, n1, x2, n2, low, high) => {
    expect(rounded(newcombeInterval(x1, n1, x2, n2))).toEqual([low, high]);
  });

  it('is the mirror image with the groups swapped, and has none for an empty group', () => {
    const ab = newcombeInterval(56, 70, 48, 80);
    const ba = newcombeInterval(48, 80, 56, 70);
    expect(ba?.low).toBeCloseTo(-(ab?.high ?? 0), 12);
    expect(ba?.high).toBeCloseTo(-(ab?.low ?? 0), 12);
    expect(newcombeInterval(1, 0, 1, 2)).toBeUndefined();
  });
});

describe('the sample size of a two-proportion comparison (two-sided 5%, 80% power)', () => {
  it('needs 686 per arm to tell 10% from 15%, and the most near 50%', () => {
    expect(sampleSizePerArm(0.1, 0.05)).toBe(686);
    expect(sampleSizePerArm(0.5, 0.05)).toBe(1565);
    expect(sampleSizePerArm(0.5, 0.1)).toBe(388);
  });

  it('looks downwards from a baseline near 100%, and refuses a difference outside (0, 1)', () => {
    expect(sampleSizePerArm(0.98, 0.05)).toBe(sampleSizePerArm(0.93, 0.05));
    expect(() => sampleSizePerArm(0.2, 0)).toThrow(RangeError);
  });
});
