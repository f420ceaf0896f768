import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../app-env.js';
import { counterChildren, histogramChildren, statusClass, type Metrics } from '../metrics.js';
import type { InFlight } from './in-flight.js';

/**
 * Times every request until its connection is done with it (a proxied stream returns from its
 * handler long before that) and records the request metrics of CONTRACT section 10.
 */
export function observe(metrics: Metrics, inFlight: InFlight): MiddlewareHandler<AppEnv> {
  const requests = counterChildren(metrics.requests);
  const durations = histogramChildren(metrics.requestDuration);
  const overhead = histogramChildren(metrics.overhead)();
  return async function observeRequest(c, next) {
    const startedAt = performance.now();
    c.set('startedAt', startedAt);
    inFlight.enter();
    await next();
    const outgoing = c.env?.outgoing;
    if (!outgoing) return record(c.res.status);
    const done = () => record(outgoing.headersSent ? outgoing.statusCode : CLIENT_CLOSED);
    // A short proxied answer can be complete before its handler's promise settles.
    if (outgoing.closed) done();
    else outgoing.once('close', done);

    function record(status: number): void {
      inFlight.leave();
      const seconds = (performance.now() - startedAt) / 1000;
      const route = c.get('route') ?? routePath(c, -1);
      requests(route, c.req.method, String(status)).inc();
      durations(route, statusClass(status)).observe(seconds);
      const upstreamMs = c.get('upstreamMs');
      if (upstreamMs !== undefined) overhead.observe(Math.max(0, seconds - upstreamMs / 1000));
    }
  };
}

// nginx's convention for "the client closed the connection before an answer was sent".
const CLIENT_CLOSED = 499;
