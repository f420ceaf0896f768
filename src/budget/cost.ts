import { parseDecimal, readMicros, readPlainMicros, type Decimal, type MicrosReading } from './decimal.js';
import { estimateTokens, type EstimateInput, type EstimateOptions } from './estimate.js';
import { withinFloatNoise, type Micros } from './money.js';

export { estimateTokens, type EstimateInput, type EstimateOptions } from './estimate.js';

/** A model's prices in USD per million tokens (config: input_per_million, output_per_million). */
export type ModelPrice = { inputPerMillion: number; outputPerMillion: number };

export type TokenUsage = { promptTokens: number; completionTokens: number };

/**
 * Cost of a usage at a price, rounded up to a whole micro-dollar so a request is never
 * undercharged. USD per 1M tokens × tokens is micro-dollars; the product is taken on the
 * prices' exact decimals in BigInt (0.07 × 100 is 7.000000000000001 in floats).
 */
export function costFromUsage(usage: TokenUsage, price: ModelPrice): Micros {
  const input = priceDecimal('inputPerMillion', price.inputPerMillion);
  const output = priceDecimal('outputPerMillion', price.outputPerMillion);
  const exponent = Math.min(input.exponent, output.exponent);
  const prompt = tokens(usage.promptTokens);
  const completion = tokens(usage.completionTokens);
  return exactInNumbers(prompt, input, completion, output, exponent) ?? exactInBigInts(prompt, input, completion, output, exponent);
}

/**
 * The same product in plain numbers, when every step is an integer below 2^53 (and so exact):
 * a request's tokens at a usual price always are, and BigInts cost a microsecond per estimate.
 * Undefined where any step could round; the BigInt path then answers.
 */
function exactInNumbers(prompt: number, input: Decimal, completion: number, output: Decimal, exponent: number): Micros | undefined {
  if (input.digits.length > 15 || output.digits.length > 15 || -exponent > 15) return undefined;
  const units = prompt * Number(input.digits) * 10 ** (input.exponent - exponent) + completion * Number(output.digits) * 10 ** (output.exponent - exponent);
  // Every factor is an exact integer and every term is at most the sum: a sum below 2^53 means
  // every step was exact, and one past it shows as unsafe (or NaN, or Infinity).
  if (!Number.isSafeInteger(units)) return undefined;
  if (exponent >= 0) {
    const micros = units * 10 ** exponent;
    return Number.isSafeInteger(micros) ? micros : undefined;
  }
  // Rounded up: ⌊(units + d − 1) / d⌋. A float quotient a / d of integers lies at least 1/d below
  // the next integer n, and rounds to n only if half of n's ulp reaches that, which needs a + d
  // ≥ 2^53; below, the floor is exact.
  const divisor = 10 ** -exponent;
  const top = units + divisor - 1;
  return Number.isSafeInteger(top + divisor) ? Math.floor(top / divisor) : undefined;
}

function exactInBigInts(prompt: number, input: Decimal, completion: number, output: Decimal, exponent: number): Micros {
  const units = BigInt(prompt) * scaled(input, exponent) + BigInt(completion) * scaled(output, exponent);
  const micros =
    exponent >= 0 ? units * 10n ** BigInt(exponent) : ceilDiv(units, 10n ** BigInt(-exponent));
  // Past 2^53 micros ($9 billion) nothing is admitted anyway: saturate, never lose precision.
  return micros > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(micros);
}

/** The reservation for a request: its estimated usage at its model's price, at least 1 micro. */
export function estimateCost(
  input: EstimateInput,
  price: ModelPrice | undefined,
  options: EstimateOptions & { fallbackPrice: ModelPrice },
): Micros {
  return Math.max(1, costFromUsage(estimateTokens(input, options), price ?? options.fallbackPrice));
}

/**
 * LiteLLM's `x-litellm-response-cost` (USD, Python's float text: "0.000123", "1.5e-05", "None")
 * → micros, rounded up; undefined when absent, unreadable or negative. Python prints float
 * noise too ("0.30000000000000004"); that is not charged as one more micro.
 */
export function parseResponseCost(header: string | undefined): Micros | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  const reading = readPlainMicros(text) ?? readDecimalMicros(text);
  if (reading === undefined) return undefined;
  if (reading.exact) return reading.floor;
  // Noise is relative to an amount; below one micro (even "1e-400", which reads as 0) charge 1.
  if (reading.floor > 0 && withinFloatNoise(Number(text), reading.floor)) return reading.floor;
  const up = reading.floor + 1;
  return Number.isSafeInteger(up) ? up : undefined;
}

function readDecimalMicros(text: string): MicrosReading | undefined {
  const decimal = parseDecimal(text);
  return decimal === undefined ? undefined : readMicros(decimal);
}

function priceDecimal(name: string, usdPerMillion: number): Decimal {
  const known = PRICE_DECIMALS.get(usdPerMillion);
  if (known) return known;
  // String() gives the shortest decimal that reads back as this number: the config's own text.
  const decimal = Number.isFinite(usdPerMillion) ? parseDecimal(String(usdPerMillion)) : undefined;
  if (decimal === undefined) {
    throw new RangeError(`${name} must be a finite price >= 0, got ${usdPerMillion}`);
  }
  if (PRICE_DECIMALS.size >= MAX_PRICE_DECIMALS) PRICE_DECIMALS.clear();
  PRICE_DECIMALS.set(usdPerMillion, decimal);
  return decimal;
}

/** Prices are few (one pair per model) and every request's estimate reads them: parsed once. */
const PRICE_DECIMALS = new Map<number, Decimal>();
const MAX_PRICE_DECIMALS = 10_000;

/** The decimal's digits as a multiple of 10^exponent (exponent <= the decimal's own). */
function scaled(decimal: Decimal, exponent: number): bigint {
  return BigInt(decimal.digits) * 10n ** BigInt(decimal.exponent - exponent);
}

function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

/** Token counts come from upstream JSON: anything but a count >= 0 is taken as 0. */
function tokens(count: number): number {
  if (!Number.isFinite(count) || count <= 0) return 0;
  return Math.min(Math.ceil(count), Number.MAX_SAFE_INTEGER);
}
