import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { MiddlewareHandler } from 'hono';
import type { Dispatcher } from 'undici';
import type { AppEnv } from '../app-env.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Breaker } from './breaker.js';
import { ClientClosedError, Exchange, type ExchangeEnd } from './exchange.js';
import { headerValue, upstreamHeaders } from './headers.js';
import { readRequestBody, type RequestBody } from './request-body.js';
import type { ProxyRoute } from './routes.js';
import { upstreamFailure, type Upstream } from './upstream.js';

export interface ForwardDeps {
  readonly upstream: Upstream;
  readonly breaker: Breaker;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
}

/**
 * The proxy route: read the body as the route needs it, send it upstream behind the breaker, and
 * stream the answer to the client through Node's own response object. Errors before the upstream's
 * headers are thrown for `app.onError` to render; after them the exchange owns the connection.
 */
export function forward(deps: ForwardDeps, route: ProxyRoute): MiddlewareHandler<AppEnv> {
  const { upstream, breaker, logger } = deps;
  const upstreamDuration = deps.metrics.upstreamDuration.labels(route.label);

  return async function proxy(c) {
    const { incoming, outgoing } = c.env;
    const requestId = randomUUID();
    const responseRequestId = headerValue(incoming.rawHeaders, 'x-request-id') ?? requestId;
    c.set('route', route.label);
    c.set('requestId', requestId);
    c.set('responseRequestId', responseRequestId);

    const body = await readRequestBody(incoming, deps.maxBodyBytes);
    const exchange = new Exchange(outgoing, { 'x-request-id': responseRequestId }, (end: ExchangeEnd) => {
      upstreamDuration.observe(end.upstreamMs / 1000);
      c.set('upstreamMs', end.upstreamMs);
      if (end.error && end.statusCode !== undefined && !(end.error instanceof ClientClosedError)) {
        logger.warn({ requestId, route: route.label, err: end.error.message }, 'upstream failed mid-response');
      }
    });
    outgoing.once('close', () => exchange.clientClosed());

    try {
      await breaker.fire(() => exchange.start(upstream.pool, dispatchOptions(incoming, upstream, body, requestId)));
    } catch (err) {
      // A 5xx rejects too (the breaker counts it), but its answer is already on its way.
      if (!exchange.headersReceived && !(err instanceof ClientClosedError)) throw upstreamFailure(err, breaker.retryAfterSeconds);
    }
    return RESPONSE_ALREADY_SENT;
  };
}

function dispatchOptions(
  incoming: IncomingMessage,
  upstream: Upstream,
  body: RequestBody,
  requestId: string,
): Dispatcher.DispatchOptions {
  return {
    method: incoming.method as Dispatcher.HttpMethod,
    path: upstream.basePath + incoming.url,
    headers: upstreamHeaders(incoming.rawHeaders, { requestId, bodyReplaced: body.kind === 'json' }),
    body: body.kind === 'none' ? null : body.kind === 'json' ? body.bytes : body.stream,
  };
}
