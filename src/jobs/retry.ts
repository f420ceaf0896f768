/**
 * Retries an external call with exponential back-off (2 s, 4 s, 8 s by default, issue #4): a
 * failure after the last attempt is thrown, so the caller decides what is kept for later.
 */

import { setTimeout as wait } from 'node:timers/promises';

export interface RetryOptions {
  readonly delaysMs?: readonly number[];
  /** Injected so tests need not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each retry with the failure that caused it. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const BACKOFF_MS = [2_000, 4_000, 8_000] as const;

/** Waits without holding the process open. */
const sleepFor = (ms: number): Promise<void> => wait(ms, undefined, { ref: false });

export async function withRetries<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const delays = options.delaysMs ?? BACKOFF_MS;
  const sleep = options.sleep ?? sleepFor;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const delay = delays[attempt];
      if (delay === undefined) throw err;
      options.onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}
