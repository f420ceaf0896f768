import { parseDecimal, readMicros } from './decimal.js';

/** Money inside the gateway: integer micro-dollars (CONTRACT §2), always a safe integer. */
export type Micros = number;

const MICROS_PER_USD = 1_000_000;

/**
 * Binary floats put noise in the last digits of decimal arithmetic (0.1 + 0.2 is
 * 0.30000000000000004). A value this close to a whole micro-dollar is taken as that amount;
 * anything further off really has more than 6 decimals.
 */
const NOISE = 4 * Number.EPSILON;

/** Whether `value` (USD) differs from `micros` only by float noise. */
export function withinFloatNoise(value: number, micros: Micros): boolean {
  return Math.abs(value - micros / MICROS_PER_USD) <= Math.abs(value) * NOISE;
}

/**
 * USD with up to 6 decimals → micros, exactly. The number's shortest decimal form (what
 * JSON.parse read) is used digit by digit; 7+ decimals are refused unless they are float noise.
 * Below $2^33 every 6-decimal amount survives microsToUsd and back; above, doubles are
 * coarser than a micro-dollar and the result is within 1 micro.
 */
export function usdToMicros(usd: number): Micros {
  if (!Number.isFinite(usd) || usd < 0) {
    throw new RangeError(`amount must be a finite number >= 0, got ${String(usd)}`);
  }
  // From 1e16 USD on, String() may use the e+21 form; such amounts are far beyond safe micros.
  const decimal = usd < 1e16 ? parseDecimal(String(usd)) : undefined;
  const reading = decimal === undefined ? undefined : readMicros(decimal);
  if (reading === undefined) {
    throw new RangeError(`amount ${String(usd)} exceeds ${formatUsd(Number.MAX_SAFE_INTEGER)} USD`);
  }
  if (reading.exact) return reading.floor;
  const { floor } = reading;
  const below = usd - floor / MICROS_PER_USD;
  const above = (floor + 1) / MICROS_PER_USD - usd;
  const nearest = below < above ? floor : floor + 1;
  if (Number.isSafeInteger(nearest) && withinFloatNoise(usd, nearest)) return nearest;
  throw new RangeError(`amount ${String(usd)} has more than 6 decimals`);
}

/**
 * USD from a source that sends binary floats with any number of decimals (LiteLLM's `spend`) →
 * the nearest micro-dollar. Only an exact half micro-dollar can round differently from decimal
 * arithmetic, and there either neighbour is as right.
 */
export function usdToNearestMicros(usd: number): Micros {
  const micros = Math.round(usd * MICROS_PER_USD);
  if (!(usd >= 0) || !Number.isSafeInteger(micros)) {
    throw new RangeError(`amount must be a finite number from 0 to ${formatUsd(Number.MAX_SAFE_INTEGER)} USD, got ${String(usd)}`);
  }
  return micros;
}

/** Micros → USD as a JSON number (the nearest double to the exact decimal). */
export function microsToUsd(micros: Micros): number {
  assertMicros(micros);
  return micros / MICROS_PER_USD;
}

/** The exact decimal, no exponent, no trailing zeros ("100", "79.99", "0.000001", "-2.5"). */
export function formatUsd(micros: Micros): string {
  assertMicros(micros);
  // Exact in doubles: the remainder of a safe integer is, so is the difference, a multiple of a
  // million below 2^53, and so is its quotient (a whole number, correctly rounded).
  const abs = Math.abs(micros);
  let fraction = abs % MICROS_PER_USD;
  const whole = (abs - fraction) / MICROS_PER_USD;
  const sign = micros < 0 ? '-' : '';
  if (fraction === 0) return `${sign}${whole}`;
  // The fraction's six digits without their trailing zeros.
  let digits = 6;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  return `${sign}${whole}.${String(fraction).padStart(digits, '0')}`;
}

function assertMicros(micros: Micros): void {
  if (!Number.isSafeInteger(micros)) {
    throw new RangeError(`micros must be a safe integer, got ${String(micros)}`);
  }
}
