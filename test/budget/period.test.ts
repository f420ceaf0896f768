import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDuration, currentPeriod, firstPeriod, replacedPeriod, type Duration, type Period } from '../../src/budget/index.js';

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

describe('the period grid: boundaries at anchor + k·duration, wherever the stored period is', () => {
  const anchorMs = at('2025-01-31T00:00:00Z');
  const january: Period = { startMs: at('2024-12-31T00:00:00Z'), endMs: anchorMs };
  /** What the reset job stores when it runs at `nowMs`: the current period, the anchor unchanged. */
  const roll = (stored: Period, duration: Duration, nowMs: number, anchor: number): Period =>
    currentPeriod(stored, duration, nowMs, anchor);

  it('keeps monthly periods on the 31st across February whether or not the job ran', () => {
    const rolledInFebruary = roll(january, monthly, at('2025-02-01T00:00:00Z'), anchorMs);
    expect(isoPeriod(rolledInFebruary)).toEqual(['2025-01-31T00:00:00.000Z', '2025-02-28T00:00:00.000Z']);
    for (const stored of [january, rolledInFebruary]) {
      expect(isoPeriod(currentPeriod(stored, monthly, at('2025-03-15T00:00:00Z'), anchorMs))).toEqual([
        '2025-02-28T00:00:00.000Z',
        '2025-03-31T00:00:00.000Z',
      ]);
      expect(isoPeriod(currentPeriod(stored, monthly, at('2025-03-31T00:00:00Z'), anchorMs))).toEqual([
        '2025-03-31T00:00:00.000Z',
        '2025-04-30T00:00:00.000Z',
      ]);
    }
  });

  it('would drift to the 28th if the stored end were the grid (why the anchor is kept)', () => {
    const rolledInFebruary = roll(january, monthly, at('2025-02-01T00:00:00Z'), anchorMs);
    expect(isoPeriod(currentPeriod(rolledInFebruary, monthly, at('2025-03-15T00:00:00Z')))).toEqual([
      '2025-02-28T00:00:00.000Z',
      '2025-03-28T00:00:00.000Z',
    ]);
  });

  const anyDuration = fc.oneof(
    fc.record({ count: fc.integer({ min: 1, max: 48 }), unit: fc.constantFrom('h' as const, 'd' as const, 'w' as const) }),
    fc.record({ count: fc.integer({ min: 1, max: 13 }), unit: fc.constant('mo' as const) }),
  );

  it('gives every replica the same period however many times (and when) the job rolled it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: at('2100-01-01T00:00:00Z') }),
        anyDuration,
        fc.array(fc.integer({ min: 0, max: 2e11 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 2e11 }),
        (anchor, duration, jobGaps, queryGap) => {
          const original: Period = { startMs: anchor - 1, endMs: anchor };
          let stored = original;
          let nowMs = anchor;
          for (const gap of jobGaps) {
            nowMs += gap;
            stored = roll(stored, duration, nowMs, anchor);
          }
          const queryMs = nowMs + queryGap;
          expect(currentPeriod(stored, duration, queryMs, anchor)).toEqual(currentPeriod(original, duration, queryMs, anchor));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('replacedPeriod (a PUT of the tenant config)', () => {
  const current: Period = { startMs: at('2025-01-01T00:00:00Z'), endMs: at('2025-02-01T00:00:00Z') };
  const weekly: Duration = { count: 1, unit: 'w' };

  it('applies a new duration from the next boundary: the current period keeps its end', () => {
    const replaced = replacedPeriod(current, monthly, { duration: weekly })!;
    expect(replaced).toEqual({ period: current, anchorMs: current.endMs });
    expect(currentPeriod(replaced.period, weekly, at('2025-01-31T23:59:59.999Z'), replaced.anchorMs)).toBe(current);
    expect(isoPeriod(currentPeriod(replaced.period, weekly, at('2025-02-01T00:00:00Z'), replaced.anchorMs))).toEqual([
      '2025-02-01T00:00:00.000Z',
      '2025-02-08T00:00:00.000Z',
    ]);
    expect(isoPeriod(currentPeriod(replaced.period, weekly, at('2025-02-10T00:00:00Z'), replaced.anchorMs))).toEqual([
      '2025-02-08T00:00:00.000Z',
      '2025-02-15T00:00:00.000Z',
    ]);
  });

  it('moves the current period\'s end to a new budget_reset_at and continues the grid from it', () => {
    const resetAtMs = at('2025-01-31T00:00:00Z');
    const replaced = replacedPeriod(current, monthly, { duration: monthly, resetAtMs })!;
    expect(replaced).toEqual({ period: { startMs: current.startMs, endMs: resetAtMs }, anchorMs: resetAtMs });
    expect(isoPeriod(currentPeriod(replaced.period, monthly, at('2025-03-31T00:00:00Z'), replaced.anchorMs))).toEqual([
      '2025-03-31T00:00:00.000Z',
      '2025-04-30T00:00:00.000Z',
    ]);
  });

  it('changes nothing when neither the duration nor the end changes, also when the end is echoed back', () => {
    expect(replacedPeriod(current, monthly, { duration: { count: 1, unit: 'mo' } })).toBeUndefined();
    expect(replacedPeriod(current, monthly, { duration: monthly, resetAtMs: current.endMs })).toBeUndefined();
  });
});
