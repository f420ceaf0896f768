import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admits,
  budgetLines,
  statusOf,
  usdToMicros,
  utilization,
  type BudgetStatus,
} from '../../src/budget/index.js';

const MAX = Number.MAX_SAFE_INTEGER;
const RANK: Record<BudgetStatus, number> = { ok: 0, alert: 1, grace: 2, blocked: 3 };

describe('CONTRACT §3 boundaries: budget $100, alert 80, grace 110', () => {
  const lines = budgetLines(usdToMicros(100), 80, 110);

  it('puts the lines at exactly $80 and $110', () => {
    expect(lines).toEqual({
      effectiveMicros: 100_000_000,
      alertLineMicros: 80_000_000,
      blockLineMicros: 110_000_000,
    });
  });

  it.each([
    [0, 'ok', true],
    [79.99, 'ok', true],
    [79.999999, 'ok', true],
    [80.0, 'alert', true],
    [99.99, 'alert', true],
    [99.999999, 'alert', true],
    [100.0, 'grace', true],
    [109.99, 'grace', true],
    [109.999999, 'grace', true],
    [110.0, 'blocked', false],
    [150.0, 'blocked', false],
  ] as const)('spend $%s is %s, admitted: %s', (spendUsd, status, admitted) => {
    const spend = usdToMicros(spendUsd);
    expect(statusOf(spend, lines)).toBe(status);
    expect(admits(spend, 0, lines.blockLineMicros)).toBe(admitted);
  });

  it.each([
    [109.99, 0.009999, true],
    [109.99, 0.01, false],
    [100, 9.999999, true],
    [0, 110, false],
  ])('spend $%s with $%s reserved in flight is admitted: %s', (spendUsd, reservedUsd, admitted) => {
    expect(admits(usdToMicros(spendUsd), usdToMicros(reservedUsd), lines.blockLineMicros)).toBe(admitted);
  });
});

describe('a zero effective budget', () => {
  const zero = budgetLines(0, 80, 110);

  it.each([0, 1, 1_000_000])('is blocked and admits nothing at spend %s', (spend) => {
    expect(statusOf(spend, zero)).toBe('blocked');
    expect(admits(spend, 0, zero.blockLineMicros)).toBe(false);
  });

  it('reads as fully used', () => {
    expect(utilization(0, 0)).toBe(1);
    expect(utilization(5_000_000, 0)).toBe(1);
  });
});

describe('budgetLines', () => {
  it.each([
    ['a 1-micro budget rounds lines up', 1, 80, 110, 1, 2],
    ['fractional thresholds', 333, 80.5, 100, 269, 333],
    ['alert 100 % and grace 100 %', 100_000_000, 100, 100, 100_000_000, 100_000_000],
    ['two-decimal thresholds', 100_000_000, 80.25, 110.75, 80_250_000, 110_750_000],
    ['a product past 2^53', 9_000_000_000_000_000, 80.5, 100, 7_245_000_000_000_000, 9_000_000_000_000_000],
    ['a block line past safe integers saturates', MAX, 80, 110, 7_205_759_403_792_793, MAX],
  ])('%s', (_name, effective, alert, grace, alertLine, blockLine) => {
    expect(budgetLines(effective, alert, grace)).toEqual({
      effectiveMicros: effective,
      alertLineMicros: alertLine,
      blockLineMicros: blockLine,
    });
  });

  it.each([
    ['alert 0', 100, 0, 110, /alert_threshold must be > 0 and <= 100/],
    ['alert below 0', 100, -5, 110, /alert_threshold/],
    ['alert above 100', 100, 100.01, 110, /alert_threshold/],
    ['alert with 3 decimals', 100, 80.555, 110, /at most 2 decimals/],
    ['alert NaN', 100, Number.NaN, 110, /alert_threshold/],
    ['grace below 100', 100, 80, 99.99, /grace_threshold must be >= 100/],
    ['grace Infinity', 100, 80, Number.POSITIVE_INFINITY, /grace_threshold/],
    ['negative budget', -1, 80, 110, /effective budget/],
    ['fractional budget', 1.5, 80, 110, /effective budget/],
  ])('refuses %s', (_name, effective, alert, grace, message) => {
    expect(() => budgetLines(effective, alert, grace)).toThrow(RangeError);
    expect(() => budgetLines(effective, alert, grace)).toThrow(message);
  });

  const effective = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const alertBp = fc.integer({ min: 1, max: 10_000 });
  const graceBp = fc.integer({ min: 10_000, max: 100_000 });

  it('puts each line at the smallest spend s with s / effective >= pct / 100', () => {
    fc.assert(
      fc.property(effective, alertBp, graceBp, (micros, alert, grace) => {
        const lines = budgetLines(micros, alert / 100, grace / 100);
        for (const [line, bp] of [
          [lines.alertLineMicros, alert],
          [lines.blockLineMicros, grace],
        ] as const) {
          if (line === Number.MAX_SAFE_INTEGER) continue;
          expect(BigInt(line) * 10_000n >= BigInt(micros) * BigInt(bp)).toBe(true);
          expect(BigInt(line - 1) * 10_000n < BigInt(micros) * BigInt(bp)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  const scenario = fc.record({
    lines: fc.tuple(fc.integer({ min: 0, max: 1e12 }), alertBp, graceBp).map(([micros, alert, grace]) =>
      budgetLines(micros, alert / 100, grace / 100),
    ),
    spend: fc.integer({ min: 0, max: 2e12 }),
    more: fc.integer({ min: 0, max: 2e12 }),
  });

  it('statusOf is monotone in spend', () => {
    fc.assert(
      fc.property(scenario, ({ lines, spend, more }) => {
        expect(RANK[statusOf(spend + more, lines)]).toBeGreaterThanOrEqual(RANK[statusOf(spend, lines)]);
      }),
      { numRuns: 300 },
    );
  });

  it('admits exactly when spend + reserved is below the block line of a non-zero budget', () => {
    fc.assert(
      fc.property(scenario, ({ lines, spend, more: reserved }) => {
        const below = spend + reserved < lines.blockLineMicros;
        expect(admits(spend, reserved, lines.blockLineMicros)).toBe(below && lines.effectiveMicros > 0);
        if (!below) expect(admits(spend, reserved, lines.blockLineMicros)).toBe(false);
        if (admits(spend, 0, lines.blockLineMicros)) expect(statusOf(spend, lines)).not.toBe('blocked');
      }),
      { numRuns: 300 },
    );
  });
});

describe('utilization', () => {
  it.each([
    [0, 100_000_000, 0],
    [50_000_000, 100_000_000, 0.5],
    [110_000_000, 100_000_000, 1.1],
  ])('of %s spent against %s is %s', (spend, effective, ratio) => {
    expect(utilization(spend, effective)).toBe(ratio);
  });
});
