import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { costFromUsage, estimateCost, parseResponseCost, type ModelPrice } from '../../src/budget/index.js';
import { parseDecimal } from '../../src/budget/decimal.js';

const mini: ModelPrice = { inputPerMillion: 0.15, outputPerMillion: 0.6 };
const options = {
  defaultCompletionTokens: 256,
  fallbackPrice: { inputPerMillion: 10, outputPerMillion: 30 },
};
const price = (inputPerMillion: number, outputPerMillion = 0): ModelPrice => ({
  inputPerMillion,
  outputPerMillion,
});

describe('costFromUsage', () => {
  it.each([
    ['1000 in + 500 out at $0.15/$0.60', 1000, 500, mini, 450],
    ['a fraction of a micro rounds up', 1, 0, mini, 1],
    ['exact where floats are not (0.07 × 100 = 7.000000000000001)', 100, 0, price(0.07), 7],
    ['half a micro rounds up', 3, 0, price(2.5, 10), 8],
    ['a price in exponent form', 1_000_000, 0, price(1e-7), 1],
    ['no tokens', 0, 0, mini, 0],
    ['a free model', 1000, 1000, price(0, 0), 0],
    ['a million tokens each at $2.50/$10', 1_000_000, 1_000_000, price(2.5, 10), 12_500_000],
  ])('%s', (_name, promptTokens, completionTokens, modelPrice, micros) => {
    expect(costFromUsage({ promptTokens, completionTokens }, modelPrice)).toBe(micros);
  });

  it.each([Number.NaN, -5, Number.POSITIVE_INFINITY])('counts %s tokens from upstream as none', (tokens) => {
    expect(costFromUsage({ promptTokens: tokens, completionTokens: 10 }, mini)).toBe(6);
  });

  it.each([Number.NaN, -0.1, Number.POSITIVE_INFINITY])('refuses a price of %s', (bad) => {
    const usage = { promptTokens: 1, completionTokens: 1 };
    expect(() => costFromUsage(usage, price(bad, 1))).toThrow(/inputPerMillion must be a finite price >= 0/);
  });

  it('saturates at the largest safe integer', () => {
    const usage = { promptTokens: Number.MAX_SAFE_INTEGER, completionTokens: 0 };
    expect(costFromUsage(usage, price(1e300))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('is the exact product rounded up, for any 6-decimal prices', () => {
    const tokens = fc.integer({ min: 0, max: 10_000_000 });
    const priceMicros = fc.integer({ min: 0, max: 1_000_000_000 });
    fc.assert(
      fc.property(tokens, tokens, priceMicros, priceMicros, (prompt, completion, inMicros, outMicros) => {
        const units = BigInt(prompt) * BigInt(inMicros) + BigInt(completion) * BigInt(outMicros);
        const expected = Number((units + 999_999n) / 1_000_000n);
        const usage = { promptTokens: prompt, completionTokens: completion };
        expect(costFromUsage(usage, price(inMicros / 1e6, outMicros / 1e6))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
  it('gives the exact BigInt answer for any tokens and any prices, small, large or in exponent notation', () => {
    // Most products fit in a double's 53 bits and are worked out in plain numbers; the rest, and
    // every step that could round, go through BigInt. Both must agree with BigInt everywhere.
    const exactly = (prompt: number, completion: number, inUsd: number, outUsd: number): number => {
      const read = (usd: number) => parseDecimal(String(usd))!;
      const [a, b] = [read(inUsd), read(outUsd)];
      const e = Math.min(a.exponent, b.exponent);
      const units = BigInt(prompt) * BigInt(a.digits) * 10n ** BigInt(a.exponent - e) + BigInt(completion) * BigInt(b.digits) * 10n ** BigInt(b.exponent - e);
      const micros = e >= 0 ? units * 10n ** BigInt(e) : (units + 10n ** BigInt(-e) - 1n) / 10n ** BigInt(-e);
      return micros > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(micros);
    };
    const tokens = fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    const usd = fc.oneof(
      fc.integer({ min: 0, max: 1_000_000_000 }).map((n) => n / 1e6),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
      fc.double({ min: 0, max: 1e-9, noNaN: true }),
      fc.constantFrom(0, 0.07, 0.15, 2.5, 1e-7, 1.5e-5, 3e21, 1e300),
    );
    fc.assert(
      fc.property(tokens, tokens, usd, usd, (prompt, completion, inUsd, outUsd) => {
        expect(costFromUsage({ promptTokens: prompt, completionTokens: completion }, price(inUsd, outUsd))).toBe(exactly(prompt, completion, inUsd, outUsd));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('estimateCost', () => {
  const chat = {
    endpoint: '/v1/chat/completions',
    body: { messages: [{ role: 'user', content: 'abcd' }], max_tokens: 10 },
  };

  it('prices the estimate at the model price, else the fallback', () => {
    expect(estimateCost(chat, mini, options)).toBe(7); // 1 × 0.15 + 10 × 0.60 = 6.15
    expect(estimateCost(chat, undefined, options)).toBe(310); // 1 × 10 + 10 × 30
  });

  it('is at least one micro', () => {
    expect(estimateCost({ endpoint: '/v1/embeddings', body: {} }, mini, options)).toBe(1);
    expect(estimateCost(chat, price(0, 0), options)).toBe(1);
  });

  it('is a whole number of micros >= 1 for any JSON body and endpoint', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue({ maxDepth: 5 }), (endpoint, body) => {
        const micros = estimateCost({ endpoint, body }, mini, options);
        expect(Number.isSafeInteger(micros) && micros >= 1).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseResponseCost', () => {
  it.each([
    ['0.000123', 123],
    ['1.5e-05', 15],
    ['1.5E-05', 15],
    ['0.0000151', 16],
    ['1e-10', 1],
    ['1e-400', 1],
    ['0', 0],
    ['0.0', 0],
    [' 0.5 ', 500_000],
    ['2', 2_000_000],
    ['0.30000000000000004', 300_000],
    ['9007199254.740991', Number.MAX_SAFE_INTEGER],
  ])('reads "%s" as %s micros', (header, micros) => {
    expect(parseResponseCost(header)).toBe(micros);
  });

  it.each([
    undefined,
    ...['', '  ', 'None', 'null', 'nan', 'NaN', 'inf', '-0.1', '-1e-5', 'abc', '0x10', '1,5', '.'],
    ...['1e400', '9007199254.740992'],
  ])('reads %j as no cost', (header) => {
    expect(parseResponseCost(header)).toBeUndefined();
  });

  it('rounds any positive decimal up to the next micro', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 1, max: 9 }), (micros, digit) => {
        const digits = String(micros).padStart(7, '0');
        const usd = `${digits.slice(0, -6)}.${digits.slice(-6)}`;
        expect(parseResponseCost(usd)).toBe(micros);
        expect(parseResponseCost(`${usd}${digit}`)).toBe(micros + 1);
      }),
    );
  });
});
