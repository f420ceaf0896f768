import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDecimal, readMicros, readPlainMicros } from '../../src/budget/decimal.js';

const general = (text: string) => {
  const decimal = parseDecimal(text);
  return decimal === undefined ? undefined : readMicros(decimal);
};

/** Plain decimals of up to nine whole digits and any fraction, leading zeros and bare points included. */
const plain = fc
  .tuple(fc.stringMatching(/^\d{0,9}$/), fc.boolean(), fc.stringMatching(/^\d{0,20}$/))
  .filter(([whole, point, fraction]) => whole !== '' || (point && fraction !== ''))
  .map(([whole, point, fraction]) => (point ? `${whole}.${fraction}` : whole));

describe('readPlainMicros', () => {
  it.each([
    ['0.000052', { floor: 52, exact: true }],
    ['5.', { floor: 5_000_000, exact: true }],
    ['.5', { floor: 500_000, exact: true }],
    ['000.0000010', { floor: 1, exact: true }],
    ['0.30000000000000004', { floor: 300_000, exact: false }],
    ['999999999.9999999', { floor: 999_999_999_999_999, exact: false }],
  ])('reads "%s" as the general reading does', (text, reading) => {
    expect(readPlainMicros(text)).toEqual(reading);
    expect(general(text)).toEqual(reading);
  });

  it.each(['', '.', '1e-5', '+1', '-1', '1.2.3', ' 1', 'None', '1000000000', '1000000000.5'])('leaves "%s" to the general reading', (text) => {
    expect(readPlainMicros(text)).toBeUndefined();
  });

  it('reads every plain decimal of up to nine whole digits exactly as the general reading', () => {
    fc.assert(
      fc.property(plain, (text) => {
        expect(readPlainMicros(text)).toEqual(general(text));
      }),
    );
  });

  it('never disagrees with the general reading on any other text', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9.eE+\- ]{0,24}$/), (text) => {
        const reading = readPlainMicros(text);
        if (reading !== undefined) expect(reading).toEqual(general(text));
      }),
      { numRuns: 2_000 },
    );
  });
});
