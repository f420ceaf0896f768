import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDuration, parseDuration, parseOverrideDuration, type Duration } from '../../src/budget/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const month = (count: number): Duration => ({ count, unit: 'mo' });

describe('parseDuration', () => {
  it.each([
    ['1h', { count: 1, unit: 'h' }],
    ['30d', { count: 30, unit: 'd' }],
    ['2w', { count: 2, unit: 'w' }],
    ['1mo', { count: 1, unit: 'mo' }],
    ['12mo', { count: 12, unit: 'mo' }],
    ['720h', { count: 720, unit: 'h' }],
  ])('reads "%s"', (text, duration) => {
    expect(parseDuration(text)).toEqual(duration);
  });

  const invalid = ['', '0d', '01d', '1', 'd', 'mo', '1y', '1m', '1D', '1MO', '1 d', ' 1d', '1d ', '1.5d'];
  it.each([...invalid, '-1d', '+1d', '1dd', '1mos'])(
    'refuses "%s", quoting it and naming the accepted form',
    (text) => {
      expect(() => parseDuration(text)).toThrow(RangeError);
      expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}: expected`);
      expect(() => parseDuration(text)).toThrow('h, d, w or mo');
    },
  );

  it('refuses a duration longer than the range of dates', () => {
    expect(() => parseDuration('99999999999999999999h')).toThrow(/longer than dates can reach/);
    expect(() => parseDuration('9999999mo')).toThrow(RangeError);
    expect(parseDuration('100000000d')).toEqual({ count: 100_000_000, unit: 'd' });
  });

  it('refuses a value that is not a string without throwing a TypeError', () => {
    expect(() => parseDuration(30 as unknown as string)).toThrow(RangeError);
  });
});

describe('parseOverrideDuration', () => {
  it.each([
    ['24h', { count: 24, unit: 'h' }],
    ['7d', { count: 7, unit: 'd' }],
    ['1w', { count: 1, unit: 'w' }],
  ])('reads "%s"', (text, duration) => {
    expect(parseOverrideDuration(text)).toEqual(duration);
  });

  it.each(['1mo', '0h', '1y', ''])('refuses "%s" (no calendar months)', (text) => {
    expect(() => parseOverrideDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    expect(() => parseOverrideDuration(text)).toThrow('h, d or w');
  });
});

describe('addDuration', () => {
  it('adds fixed hours, days and weeks', () => {
    const from = at('2024-03-10T01:30:00Z');
    expect(addDuration(from, { count: 5, unit: 'h' })).toBe(from + 5 * HOUR);
    expect(addDuration(from, { count: 30, unit: 'd' })).toBe(from + 30 * DAY);
    expect(addDuration(from, { count: 2, unit: 'w' }, 3)).toBe(from + 42 * DAY);
    expect(addDuration(from, { count: 1, unit: 'd' }, 0)).toBe(from);
  });

  it.each([
    ['2023-01-31T00:00:00.000Z', 1, 1, '2023-02-28T00:00:00.000Z'],
    ['2024-01-31T00:00:00.000Z', 1, 1, '2024-02-29T00:00:00.000Z'],
    ['2023-01-31T00:00:00.000Z', 2, 1, '2023-03-31T00:00:00.000Z'],
    ['2023-01-31T00:00:00.000Z', 1, 2, '2023-03-31T00:00:00.000Z'],
    ['2023-01-31T00:00:00.000Z', 1, 3, '2023-04-30T00:00:00.000Z'],
    ['2024-02-29T00:00:00.000Z', 12, 1, '2025-02-28T00:00:00.000Z'],
    ['2024-02-29T00:00:00.000Z', 1, 48, '2028-02-29T00:00:00.000Z'],
    ['2100-01-29T00:00:00.000Z', 1, 1, '2100-02-28T00:00:00.000Z'],
    ['2000-01-29T00:00:00.000Z', 1, 1, '2000-02-29T00:00:00.000Z'],
    ['2024-12-15T00:00:00.000Z', 1, 1, '2025-01-15T00:00:00.000Z'],
    ['2024-12-31T23:59:59.999Z', 1, 1, '2025-01-31T23:59:59.999Z'],
    ['2024-11-30T12:00:00.000Z', 3, 1, '2025-02-28T12:00:00.000Z'],
    ['2024-01-31T13:45:10.123Z', 1, 1, '2024-02-29T13:45:10.123Z'],
    ['2024-03-31T00:00:00.000Z', 1, -1, '2024-02-29T00:00:00.000Z'],
    ['2025-01-01T00:00:00.000Z', 1, -1, '2024-12-01T00:00:00.000Z'],
    ['0050-01-31T00:00:00.000Z', 1, 1, '0050-02-28T00:00:00.000Z'],
  ])('%s + %imo × %i is %s', (from, count, times, expected) => {
    expect(iso(addDuration(at(from), month(count), times))).toBe(expected);
  });

  it('refuses a fractional multiple', () => {
    expect(() => addDuration(0, month(1), 1.5)).toThrow(RangeError);
  });

  const anchor = fc.integer({ min: at('1970-01-01T00:00:00Z'), max: at('2200-01-01T00:00:00Z') });
  const monthly = fc.record({ count: fc.integer({ min: 1, max: 24 }), unit: fc.constant('mo' as const) });

  it('keeps the anchor day, clamped to the target month, and never lands on a later day', () => {
    fc.assert(
      fc.property(anchor, monthly, fc.integer({ min: 0, max: 600 }), (fromMs, duration, times) => {
        const from = new Date(fromMs);
        const to = new Date(addDuration(fromMs, duration, times));
        const months = from.getUTCMonth() + duration.count * times;
        expect(to.getUTCFullYear()).toBe(from.getUTCFullYear() + Math.floor(months / 12));
        expect(to.getUTCMonth()).toBe(months % 12);
        expect(to.getUTCDate()).toBeLessThanOrEqual(from.getUTCDate());
        const lastDay = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() + 1, 0)).getUTCDate();
        expect(to.getUTCDate()).toBe(Math.min(from.getUTCDate(), lastDay));
        expect(to.getTime() % DAY).toBe(fromMs % DAY);
      }),
      { numRuns: 300 },
    );
  });

  it('counts months from the anchor: steps are increasing and never drift', () => {
    fc.assert(
      fc.property(anchor, monthly, fc.integer({ min: 0, max: 600 }), (fromMs, duration, times) => {
        const here = addDuration(fromMs, duration, times);
        expect(addDuration(fromMs, duration, times + 1)).toBeGreaterThan(here);
        expect(addDuration(fromMs, duration, times)).toBe(addDuration(fromMs, month(duration.count * times)));
      }),
    );
  });
});
