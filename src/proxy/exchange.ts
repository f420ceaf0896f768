import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { readUpstreamHead } from './headers.js';
import { createUsageTap, type Usage, type UsageTap } from './usage-tap.js';

/** The upstream answered 5xx: passed through to the client, and a failure for the breaker. */
export class UpstreamServerError extends Error {
  override readonly name = 'UpstreamServerError';
  readonly code = 'UPSTREAM_SERVER_ERROR';
  constructor(readonly statusCode: number) {
    super(`upstream answered ${statusCode}`);
  }
}

/** The client went away; the upstream call is cancelled and nobody is owed an answer. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('client closed the connection');
  }
}

export interface ExchangeEnd {
  /** The upstream status, if its headers arrived. */
  readonly statusCode: number | undefined;
  /** Why the exchange did not complete, if it did not. */
  readonly error: Error | undefined;
  /** Milliseconds from dispatch to the upstream's last byte or failure (0 if never sent). */
  readonly upstreamMs: number;
  /** Token usage read from the answer, when the exchange was asked to read it. */
  readonly usage: Usage | undefined;
  /** LiteLLM's `x-litellm-response-cost` header. */
  readonly costHeader: string | undefined;
}

export interface ExchangeOptions {
  /** The x-budget-* headers the gateway adds to the answer. */
  readonly ownHeaders: Readonly<Record<string, string>>;
  /** The answer's `x-request-id` (the client's own, or the gateway's). */
  readonly requestId: string;
  /** Read token usage from the answer as it passes. */
  readonly readUsage: boolean;
  /** Take the usage-only stream event out (the gateway asked for it, not the client). */
  readonly stripUsageEvent: boolean;
}

/**
 * One request/response with the upstream, written straight to the client's ServerResponse as
 * undici delivers it: no Web streams, no buffering, backpressure from the client pauses the
 * upstream socket. `responseHead` settles when the upstream's headers arrive (that is all the
 * circuit breaker waits for); `onEnd` runs exactly once, however the exchange ends.
 *
 * It implements the handler interface undici's core calls (`onConnect`, `onHeaders`, `onData`,
 * `onComplete`, `onError`), as undici's own `request()` and `stream()` do in undici 7: a handler
 * of the newer interface (`onRequestStart`, `onResponseStart`, …) is wrapped in an adapter that
 * builds a controller per request and a header object from the raw header lines, which this
 * reads in one pass itself (`readUpstreamHead`): 0.4 µs less per answer with six headers, 4 with
 * the twenty LiteLLM's proxy sends (bench/README.md).
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly responseHead: Promise<number>;
  #resolveHead!: (status: number) => void;
  #rejectHead!: (err: Error) => void;
  #abort: ((err: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #abortReason: Error | undefined;
  #statusCode: number | undefined;
  #dispatchedAt = 0;
  #ended = false;
  #tap: UsageTap | undefined;
  #costHeader: string | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: ExchangeOptions,
    private readonly onEnd: (end: ExchangeEnd) => void,
  ) {
    this.responseHead = new Promise<number>((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
  }

  get headersReceived(): boolean {
    return this.#statusCode !== undefined;
  }

  /** Sends the request; resolves at the upstream's headers, rejects on 5xx or failure before them. */
  start(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): Promise<number> {
    this.#dispatchedAt = performance.now();
    dispatcher.dispatch(options, this);
    return this.responseHead;
  }

  /** The request was never sent (the breaker refused it): end the exchange all the same. */
  notSent(err: Error): void {
    if (this.#dispatchedAt === 0) this.#finish(err);
  }

  /**
   * The client's connection closed. After a normal finish this is a no-op; before it, the
   * upstream call is cancelled. (The error is built only then: a stack trace per request would
   * be the single largest cost of the hot path.)
   */
  clientClosed(): void {
    if (this.#ended || this.#abortReason) return;
    this.#abortReason = new ClientClosedError();
    this.#abort?.(this.#abortReason);
  }

  /** The request is about to be written to a connection (again, if undici retries it there). */
  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#abortReason) abort(this.#abortReason);
  }

  /** The upstream's head: the client's goes out (returning false would pause the upstream socket). */
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // An informational head (103 Early Hints) is not the answer: the final one follows.
    if (statusCode < 200) return true;
    this.#statusCode = statusCode;
    this.#resume = resume;
    const { ownHeaders, requestId, readUsage, stripUsageEvent } = this.options;
    // Taking an event out changes the length; chunked encoding takes over.
    const head = readUpstreamHead(rawHeaders, ownHeaders, requestId, stripUsageEvent);
    this.#costHeader = head.costHeader;
    if (readUsage) this.#tap = createUsageTap(head.contentType, this.options);
    const res = this.res;
    res.writeHead(statusCode, head.headers);
    // A streamed answer (no length) gets its headers at once: SDKs wait for them before reading.
    if (!head.hasLength) res.flushHeaders();
    if (statusCode >= 500) this.#rejectHead(new UpstreamServerError(statusCode));
    else this.#resolveHead(statusCode);
    return true;
  }

  /** Returns false while the client's side is full: undici pauses the upstream until `drain`. */
  onData(chunk: Buffer): boolean {
    const out = this.#tap ? this.#tap.write(chunk) : chunk;
    if (out === undefined || this.res.write(out)) return true;
    this.res.once('drain', () => this.#resume!());
    return false;
  }

  onComplete(): void {
    const rest = this.#tap?.end();
    if (rest) this.res.write(rest);
    this.res.end();
    this.#finish(undefined);
  }

  onError(err: Error): void {
    if (this.#statusCode === undefined) this.#rejectHead(err);
    // Headers are out: the only honest signal left is to cut the connection, so the client
    // cannot take a truncated stream for a complete one.
    else if (!this.res.writableEnded) this.res.destroy();
    this.#finish(err);
  }

  #finish(error: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEnd({
      statusCode: this.#statusCode,
      error,
      upstreamMs: this.#dispatchedAt === 0 ? 0 : performance.now() - this.#dispatchedAt,
      usage: this.#tap?.usage,
      costHeader: this.#costHeader,
    });
  }
}
