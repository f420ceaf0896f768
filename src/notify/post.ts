import { request } from 'undici';
import { DeliveryError } from './sink.js';

/** Connect to last byte: a receiver that hangs costs one attempt, never the whole outbox. */
export const SEND_TIMEOUT_MS = 10_000;

export interface PostOptions {
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface Answer {
  readonly status: number;
  /** The body of a non-2xx answer (for the error and for telling LiteLLM's answers apart); '' on 2xx. */
  readonly errorBody: string;
}

/** POSTs a JSON body. Any HTTP answer resolves; no answer (refused, reset, timed out) is a DeliveryError. */
export async function postJson(url: string, body: string, options: PostOptions = {}): Promise<Answer> {
  const timeoutMs = options.timeoutMs ?? SEND_TIMEOUT_MS;
  try {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (isSuccess(res.statusCode)) {
      await res.body.dump();
      return { status: res.statusCode, errorBody: '' };
    }
    return { status: res.statusCode, errorBody: await res.body.text() };
  } catch (err) {
    throw new DeliveryError(failureOf(err, timeoutMs));
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

// The code (ECONNREFUSED, ...) rather than the message: undici's messages may carry the URL, and a
// Slack webhook URL is a secret.
function failureOf(err: unknown, timeoutMs: number): string {
  const { name, code } = err as { name?: unknown; code?: unknown };
  if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return `no answer within ${timeoutMs} ms`;
  return typeof code === 'string' ? code : String(name ?? 'network error');
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}
