/** A budget or override duration (CONTRACT §3, §6): a count of hours, days, weeks or months. */
export type Duration = { count: number; unit: 'h' | 'd' | 'w' | 'mo' };

const BUDGET_DURATION = /^([1-9][0-9]*)(h|d|w|mo)$/;
const OVERRIDE_DURATION = /^([1-9][0-9]*)([hdw])$/;

const HOUR_MS = 3_600_000;
const UNIT_MS = { h: HOUR_MS, d: 24 * HOUR_MS, w: 7 * 24 * HOUR_MS } as const;

/** ECMAScript's time range (±1e8 days); a longer duration could never end. */
const MAX_SPAN_MS = 8.64e15;
const LONGEST_MONTH_MS = 31 * UNIT_MS.d;

/** `budget_duration`: `^[1-9][0-9]*(h|d|w|mo)$`, e.g. "30d", "1mo". */
export function parseDuration(text: string): Duration {
  const accepted = 'a whole number >= 1 then h, d, w or mo, e.g. "30d" or "1mo"';
  return parse(text, BUDGET_DURATION, accepted);
}

/** Override `duration`: `^[1-9][0-9]*[hdw]$`, e.g. "24h", "7d" (no calendar months). */
export function parseOverrideDuration(text: string): Duration {
  return parse(text, OVERRIDE_DURATION, 'a whole number >= 1 then h, d or w, e.g. "24h" or "7d"');
}

/** Length in ms of an h/d/w duration; undefined for months, whose length varies. */
export function fixedLengthMs(duration: Duration): number | undefined {
  return duration.unit === 'mo' ? undefined : duration.count * UNIT_MS[duration.unit];
}

/**
 * `fromMs` plus `times` × `duration`. Months are UTC calendar months that keep the day of month
 * of `fromMs`, clamped to the target month's length. They are counted from `fromMs` in one
 * step, never by repeated adding: Jan 31 + 1mo is Feb 28 (29), but Jan 31 + 2mo is Mar 31.
 */
export function addDuration(fromMs: number, duration: Duration, times = 1): number {
  if (!Number.isSafeInteger(times)) throw new RangeError(`times must be an integer, got ${times}`);
  const fixed = fixedLengthMs(duration);
  if (fixed !== undefined) return fromMs + fixed * times;
  const from = new Date(fromMs);
  const year = from.getUTCFullYear();
  const month = from.getUTCMonth() + duration.count * times;
  const day = Math.min(from.getUTCDate(), daysInMonth(year, month));
  const timeOfDayMs = fromMs - utcDay(year, from.getUTCMonth(), from.getUTCDate());
  return utcDay(year, month, day) + timeOfDayMs;
}

function parse(text: string, form: RegExp, accepted: string): Duration {
  const match = typeof text === 'string' ? form.exec(text) : null;
  if (match === null || match[1] === undefined || match[2] === undefined) {
    throw new RangeError(`invalid duration ${JSON.stringify(String(text))}: expected ${accepted}`);
  }
  const duration = { count: Number(match[1]), unit: match[2] as Duration['unit'] };
  const longestMs = fixedLengthMs(duration) ?? duration.count * LONGEST_MONTH_MS;
  if (longestMs > MAX_SPAN_MS) {
    throw new RangeError(`invalid duration ${JSON.stringify(text)}: longer than dates can reach`);
  }
  return duration;
}

/** Midnight UTC of a day; months past 11 roll into later years. */
function utcDay(year: number, month: number, day: number): number {
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcDay(year, month + 1, 0)).getUTCDate();
}
