import { describe, expect, it } from 'vitest';
import { effectiveBudget, type Override } from '../../src/budget/index.js';

const expiresAtMs = Date.parse('2025-06-01T12:00:00.000Z');
const override: Override = { amountMicros: 50_000_000, expiresAtMs };

describe('effectiveBudget', () => {
  it.each([
    ['no override', undefined, expiresAtMs - 1, 100_000_000],
    ['an active override', override, expiresAtMs - 3_600_000, 150_000_000],
    ['the last millisecond before expiry', override, expiresAtMs - 1, 150_000_000],
    ['the exact expiry instant', override, expiresAtMs, 100_000_000],
    ['a millisecond after expiry', override, expiresAtMs + 1, 100_000_000],
  ])('with %s is %s', (_name, active, nowMs, expected) => {
    expect(effectiveBudget(100_000_000, active, nowMs)).toBe(expected);
  });

  it('raises a zero budget while the override lasts', () => {
    expect(effectiveBudget(0, override, expiresAtMs - 1)).toBe(50_000_000);
    expect(effectiveBudget(0, override, expiresAtMs)).toBe(0);
  });

  it('saturates at the largest safe integer instead of losing precision', () => {
    const huge: Override = { amountMicros: Number.MAX_SAFE_INTEGER, expiresAtMs };
    expect(effectiveBudget(Number.MAX_SAFE_INTEGER, huge, 0)).toBe(Number.MAX_SAFE_INTEGER);
  });
});
