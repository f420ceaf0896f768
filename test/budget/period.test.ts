import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDuration, currentPeriod, firstPeriod, type Duration, type Period } from '../../src/budget/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const isoPeriod = ({ startMs, endMs }: Period): [string, string] => [
  new Date(startMs).toISOString(),
  new Date(endMs).toISOString(),
];
const day: Duration = { count: 1, unit: 'd' };
const monthly: Duration = { count: 1, unit: 'mo' };

describe('currentPeriod on a fixed duration', () => {
  const stored: Period = { startMs: at('2025-01-01T00:00:00Z'), endMs: at('2025-01-02T00:00:00Z') };

  it.each([
    ['inside the period', stored.endMs - HOUR, [stored.startMs, stored.endMs]],
    ['the last millisecond', stored.endMs - 1, [stored.startMs, stored.endMs]],
    ['the exact end, where the next period begins', stored.endMs, [stored.endMs, stored.endMs + DAY]],
    ['the last millisecond of the next period', stored.endMs + DAY - 1, [stored.endMs, stored.endMs + DAY]],
    ['the end of the next period', stored.endMs + DAY, [stored.endMs + DAY, stored.endMs + 2 * DAY]],
    ['ten periods missed', stored.endMs + 10 * DAY + 5, [stored.endMs + 10 * DAY, stored.endMs + 11 * DAY]],
  ])('at %s', (_name, nowMs, [startMs, endMs]) => {
    expect(currentPeriod(stored, day, nowMs)).toEqual({ startMs, endMs });
  });

  it('returns the stored period itself before its end', () => {
    expect(currentPeriod(stored, day, stored.startMs)).toBe(stored);
  });

  it('skips years of missed hourly periods on the original grid', () => {
    const hourly: Duration = { count: 1, unit: 'h' };
    const period = currentPeriod(stored, hourly, at('2035-07-04T10:59:59.999Z'));
    expect(isoPeriod(period)).toEqual(['2035-07-04T10:00:00.000Z', '2035-07-04T11:00:00.000Z']);
  });

  it('keeps the grid of the stored end, not of the clock', () => {
    const odd: Period = { startMs: at('2025-01-01T00:07:00Z'), endMs: at('2025-01-08T00:07:00Z') };
    const period = currentPeriod(odd, { count: 1, unit: 'w' }, at('2025-03-01T00:00:00Z'));
    expect(isoPeriod(period)).toEqual(['2025-02-26T00:07:00.000Z', '2025-03-05T00:07:00.000Z']);
  });

  const fixed = fc.record({
    count: fc.integer({ min: 1, max: 400 }),
    unit: fc.constantFrom('h' as const, 'd' as const, 'w' as const),
  });
  const endMs = fc.integer({ min: 0, max: at('2100-01-01T00:00:00Z') });

  it('holds now, is one duration long and starts on the grid, however long ago the end was', () => {
    fc.assert(
      fc.property(endMs, fixed, fc.integer({ min: 0, max: 1e13 }), (end, duration, elapsed) => {
        const length = addDuration(0, duration);
        const nowMs = end + elapsed;
        const period = currentPeriod({ startMs: end - length, endMs: end }, duration, nowMs);
        expect(period.startMs).toBeLessThanOrEqual(nowMs);
        expect(period.endMs).toBeGreaterThan(nowMs);
        expect(period.endMs - period.startMs).toBe(length);
        expect((period.startMs - end) % length).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('currentPeriod on calendar months', () => {
  const stored: Period = { startMs: at('2023-12-31T00:00:00Z'), endMs: at('2024-01-31T00:00:00Z') };

  it.each([
    ['the day before the end', '2024-01-30T23:59:59.999Z', ['2023-12-31T00:00:00.000Z', '2024-01-31T00:00:00.000Z']],
    ['the exact end', '2024-01-31T00:00:00.000Z', ['2024-01-31T00:00:00.000Z', '2024-02-29T00:00:00.000Z']],
    ['mid-February', '2024-02-15T00:00:00.000Z', ['2024-01-31T00:00:00.000Z', '2024-02-29T00:00:00.000Z']],
    ['Feb 29 (leap year)', '2024-02-29T00:00:00.000Z', ['2024-02-29T00:00:00.000Z', '2024-03-31T00:00:00.000Z']],
    ['Mar 15', '2024-03-15T00:00:00.000Z', ['2024-02-29T00:00:00.000Z', '2024-03-31T00:00:00.000Z']],
    ['Mar 31, the anchor day', '2024-03-31T00:00:00.000Z', ['2024-03-31T00:00:00.000Z', '2024-04-30T00:00:00.000Z']],
    ['six years later', '2030-06-10T08:00:00.000Z', ['2030-05-31T00:00:00.000Z', '2030-06-30T00:00:00.000Z']],
    ['a February years later', '2031-02-28T00:00:00.000Z', ['2031-02-28T00:00:00.000Z', '2031-03-31T00:00:00.000Z']],
  ])('at %s', (_name, now, expected) => {
    expect(isoPeriod(currentPeriod(stored, monthly, at(now)))).toEqual(expected);
  });

  it('steps by several months at once', () => {
    const quarter: Duration = { count: 3, unit: 'mo' };
    expect(isoPeriod(currentPeriod(stored, quarter, at('2024-05-01T00:00:00Z')))).toEqual([
      '2024-04-30T00:00:00.000Z',
      '2024-07-31T00:00:00.000Z',
    ]);
  });

  it('rolls over the year on the 1st at midnight', () => {
    const december: Period = { startMs: at('2024-11-01T00:00:00Z'), endMs: at('2024-12-01T00:00:00Z') };
    expect(isoPeriod(currentPeriod(december, monthly, at('2024-12-31T23:59:59.999Z')))).toEqual([
      '2024-12-01T00:00:00.000Z',
      '2025-01-01T00:00:00.000Z',
    ]);
    expect(isoPeriod(currentPeriod(december, monthly, at('2025-01-01T00:00:00.000Z')))).toEqual([
      '2025-01-01T00:00:00.000Z',
      '2025-02-01T00:00:00.000Z',
    ]);
  });

  const endMs = fc.integer({ min: 0, max: at('2100-01-01T00:00:00Z') });
  const months = fc.record({ count: fc.integer({ min: 1, max: 24 }), unit: fc.constant('mo' as const) });

  it('holds now and lies on the grid addDuration(end, d, k), k ≥ 0', () => {
    fc.assert(
      fc.property(endMs, months, fc.integer({ min: 0, max: 3e12 }), (end, duration, elapsed) => {
        const nowMs = end + elapsed;
        const period = currentPeriod({ startMs: 0, endMs: end }, duration, nowMs);
        expect(period.startMs).toBeLessThanOrEqual(nowMs);
        expect(period.endMs).toBeGreaterThan(nowMs);
        const from = new Date(end);
        const to = new Date(period.startMs);
        const monthsOn = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth();
        const k = monthsOn / duration.count;
        expect(Number.isInteger(k) && k >= 0).toBe(true);
        expect(period.startMs).toBe(addDuration(end, duration, k));
        expect(period.endMs).toBe(addDuration(end, duration, k + 1));
      }),
      { numRuns: 500 },
    );
  });

  it('is stable: the current period of the current period is itself', () => {
    fc.assert(
      fc.property(endMs, months, fc.integer({ min: 0, max: 3e12 }), (end, duration, elapsed) => {
        const period = currentPeriod({ startMs: 0, endMs: end }, duration, end + elapsed);
        expect(currentPeriod(period, duration, end + elapsed)).toBe(period);
      }),
    );
  });
});

describe('firstPeriod', () => {
  const createdMs = at('2025-03-14T15:09:26Z');

  it('starts at creation and ends one duration later', () => {
    expect(firstPeriod(createdMs, { count: 30, unit: 'd' })).toEqual({
      startMs: createdMs,
      endMs: createdMs + 30 * DAY,
    });
    expect(isoPeriod(firstPeriod(createdMs, monthly))).toEqual([
      '2025-03-14T15:09:26.000Z',
      '2025-04-14T15:09:26.000Z',
    ]);
  });

  it('ends at budget_reset_at when given, e.g. the 1st of next month', () => {
    const resetAtMs = at('2025-04-01T00:00:00Z');
    expect(firstPeriod(createdMs, monthly, resetAtMs)).toEqual({ startMs: createdMs, endMs: resetAtMs });
  });

  it('ends at the next boundary on the reset grid when budget_reset_at is not after creation', () => {
    expect(firstPeriod(createdMs, monthly, at('2025-03-01T00:00:00Z'))).toEqual({
      startMs: createdMs,
      endMs: at('2025-04-01T00:00:00Z'),
    });
    expect(firstPeriod(createdMs, day, createdMs)).toEqual({ startMs: createdMs, endMs: createdMs + DAY });
  });
});
