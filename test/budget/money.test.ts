import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUsd, microsToUsd, usdToMicros } from '../../src/budget/index.js';

/** Below $2^33 a double resolves every micro-dollar; above, neighbouring micros can share one. */
const EXACT_LIMIT = 2 ** 33 * 1_000_000;

describe('usdToMicros', () => {
  it.each([
    [0, 0],
    [0.1, 100_000],
    [79.99, 79_990_000],
    [0.000001, 1],
    [100, 100_000_000],
    [109.99, 109_990_000],
    [123456.654321, 123_456_654_321],
    [9007199254.74099, 9_007_199_254_740_990],
  ])('reads %s USD as %s micros', (usd, micros) => {
    expect(usdToMicros(usd)).toBe(micros);
  });

  it('takes float noise as the amount it was meant to be', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(usdToMicros(0.1 + 0.2)).toBe(300_000);
    expect(usdToMicros(1.1 * 3)).toBe(3_300_000);
    expect(usdToMicros(79.99 - 0.01)).toBe(79_980_000);
  });

  it('reads -0 as 0', () => {
    expect(Object.is(usdToMicros(-0), 0)).toBe(true);
  });

  it.each([
    ['NaN', Number.NaN, /finite/],
    ['Infinity', Number.POSITIVE_INFINITY, /finite/],
    ['a negative amount', -0.01, />= 0/],
    ['7 decimals', 0.1234567, /more than 6 decimals/],
    ['less than a micro', 0.0000001, /more than 6 decimals/],
    ['half a micro', 0.0000005, /more than 6 decimals/],
    ['more than MAX_SAFE_INTEGER micros', 9007199254.740993, /exceeds 9007199254.740991/],
    ['1e16', 1e16, /exceeds/],
    ['1e300', 1e300, /exceeds/],
  ])('refuses %s', (_name, usd, message) => {
    expect(() => usdToMicros(usd)).toThrow(RangeError);
    expect(() => usdToMicros(usd)).toThrow(message);
  });

  it('round-trips every micro amount below $2^33 through microsToUsd', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: EXACT_LIMIT - 1 }), (micros) => {
        expect(usdToMicros(microsToUsd(micros))).toBe(micros);
      }),
      { numRuns: 500 },
    );
  });

  it('is within one micro above $2^33, where doubles are coarser than a micro', () => {
    fc.assert(
      fc.property(fc.integer({ min: EXACT_LIMIT, max: Number.MAX_SAFE_INTEGER - 2 }), (micros) => {
        expect(Math.abs(usdToMicros(microsToUsd(micros)) - micros)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('adds like integers: usdToMicros(a + b) is the sum of the parts', () => {
    const amount = fc.integer({ min: 0, max: 1e12 }).map((micros) => micros / 1e6);
    fc.assert(
      fc.property(amount, amount, (a, b) => {
        expect(usdToMicros(a + b)).toBe(usdToMicros(a) + usdToMicros(b));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a real seventh decimal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 1, max: 9 }), (micros, digit) => {
        const digits = String(micros).padStart(7, '0');
        const usd = Number(`${digits.slice(0, -6)}.${digits.slice(-6)}${digit}`);
        expect(() => usdToMicros(usd)).toThrow(/more than 6 decimals/);
      }),
    );
  });
});

describe('formatUsd', () => {
  it.each([
    [100_000_000, '100'],
    [79_990_000, '79.99'],
    [1, '0.000001'],
    [0, '0'],
    [10, '0.00001'],
    [1_000_000_000_000, '1000000'],
    [-2_500_000, '-2.5'],
    [Number.MAX_SAFE_INTEGER, '9007199254.740991'],
    [8_999_999_999_999_999, '8999999999.999999'],
  ])('writes %s micros as "%s"', (micros, text) => {
    expect(formatUsd(micros)).toBe(text);
  });

  it.each([1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])('refuses %s, which is not whole micros', (micros) => {
    expect(() => formatUsd(micros)).toThrow(RangeError);
    expect(() => microsToUsd(micros)).toThrow(RangeError);
  });

  it('is the exact decimal: plain digits, no trailing zeros, same as integer division', () => {
    fc.assert(
      fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (micros) => {
        const text = formatUsd(micros);
        expect(text).toMatch(/^-?(0|[1-9]\d*)(\.\d*[1-9])?$/);
        const [whole = '', fraction = ''] = text.replace('-', '').split('.');
        const rebuilt = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
        expect(micros < 0 ? -rebuilt : rebuilt).toBe(BigInt(micros));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips through Number and usdToMicros, and reads as the same double as microsToUsd', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: EXACT_LIMIT - 1 }), (micros) => {
        const usd = Number(formatUsd(micros));
        expect(usd).toBe(microsToUsd(micros));
        expect(usdToMicros(usd)).toBe(micros);
      }),
      { numRuns: 500 },
    );
  });
});
