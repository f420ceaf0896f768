import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../app-env.js';
import { counterChildren, histogramChildren, statusClass, type Metrics } from '../metrics.js';
import type { Proxied } from '../proxy/forward.js';
import type { InFlight } from './in-flight.js';

/**
 * Times every request until its connection is done with it (a proxied stream is answered long
 * after its handler returns) and records the request metrics of CONTRACT section 10. Serves the
 * Hono app's middleware and the proxy's hot paths alike.
 */
export class RequestObserver {
  readonly #requests: ReturnType<typeof counterChildren>;
  readonly #durations: ReturnType<typeof histogramChildren>;
  readonly #overhead: { observe(value: number): void };

  constructor(
    metrics: Metrics,
    private readonly inFlight: InFlight,
  ) {
    this.#requests = counterChildren(metrics.requests);
    this.#durations = histogramChildren(metrics.requestDuration);
    this.#overhead = histogramChildren(metrics.overhead)();
  }

  /** A request arrived: counted in flight from now on. Returns its start time. */
  arrived(): number {
    this.inFlight.enter();
    return performance.now();
  }

  /** Records the request once `outgoing` is closed (at once if it is); the upstream's time is read from `proxied` then. */
  recordOnClose(outgoing: ServerResponse, method: string, startedAt: number, route: string, proxied: Proxied | undefined): void {
    const done = () => this.record(route, method, outgoing.headersSent ? outgoing.statusCode : CLIENT_CLOSED, startedAt, proxied?.upstreamMs);
    // A short proxied answer can be complete before its handler's promise settles.
    if (outgoing.closed) done();
    else outgoing.once('close', done);
  }

  record(route: string, method: string, status: number, startedAt: number, upstreamMs: number | undefined): void {
    this.inFlight.leave();
    const seconds = (performance.now() - startedAt) / 1000;
    this.#requests(route, method, String(status)).inc();
    this.#durations(route, statusClass(status)).observe(seconds);
    if (upstreamMs !== undefined) this.#overhead.observe(Math.max(0, seconds - upstreamMs / 1000));
  }
}

/** The Hono app's side of the observer. */
export function observe(observer: RequestObserver): MiddlewareHandler<AppEnv> {
  return async function observeRequest(c, next) {
    const startedAt = observer.arrived();
    await next();
    const route = c.get('route') ?? routePath(c, -1);
    const proxied = c.get('proxied');
    const outgoing = c.env?.outgoing;
    if (outgoing) observer.recordOnClose(outgoing, c.req.method, startedAt, route, proxied);
    else observer.record(route, c.req.method, c.res.status, startedAt, proxied?.upstreamMs);
  };
}

// nginx's convention for "the client closed the connection before an answer was sent".
const CLIENT_CLOSED = 499;
