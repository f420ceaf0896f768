import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import type { BudgetGuard } from '../guard/budget-guard.js';
import { identify, upstreamAuthorization } from '../guard/identify.js';
import type { Settlement } from '../guard/settlement.js';
import type { TenantDirectory } from '../guard/tenant-directory.js';
import type { Logger } from '../logger.js';
import { histogramChildren, type Metrics } from '../metrics.js';
import type { Breaker } from './breaker.js';
import { ClientClosedError, Exchange, type ExchangeEnd } from './exchange.js';
import { headerValue, upstreamHeaders } from './headers.js';
import { readRequestBody, type RequestBody } from './request-body.js';
import { newRequestId } from './request-id.js';
import { isPlainPath, type ProxyRoute } from './routes.js';
import { upstreamBody } from './upstream-body.js';
import { upstreamFailure, type Upstream } from './upstream.js';

export interface ForwardDeps {
  readonly upstream: Upstream;
  readonly breaker: Breaker;
  // Only what the proxy calls, so a bench can measure the same path with budgets taken out.
  readonly directory: Pick<TenantDirectory, 'known' | 'resolve'>;
  readonly guard: Pick<BudgetGuard, 'admit' | 'view'>;
  readonly settlement: Pick<Settlement, 'complete'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** LITELLM_API_KEY: the upstream credential for keys the gateway minted. */
  readonly gatewayUpstreamKey: string | undefined;
}

/** What the proxy learns of a request as it goes, for its error page and its metrics. */
export interface Proxied {
  /** The id echoed to the client as x-request-id: its own, else the gateway's. */
  responseRequestId?: string;
  /** The x-budget-* headers once the request was admitted; errors after that carry them too. */
  budgetHeaders?: Readonly<Record<string, string>>;
  /** Time the upstream took, once it answered. */
  upstreamMs?: number;
}

/** Serves one proxied request on Node's own request and response; resolves once the upstream's headers are out. */
export type ProxyHandler = (incoming: IncomingMessage, outgoing: ServerResponse, proxied: Proxied) => Promise<void>;

/**
 * The proxy route, as named steps: tenant → body → admit (reserve) → forward behind the breaker
 * → stream back through the usage tap → settle. Errors before the upstream's headers are thrown
 * for the caller to render (`errorReply` in http/error-reply.ts); after them the exchange owns the connection.
 * The reservation is settled or released exactly once, when the exchange ends, however it ends.
 */
export function forward(deps: ForwardDeps, route: ProxyRoute): ProxyHandler {
  const { upstream, breaker, logger } = deps;
  const upstreamDuration = histogramChildren(deps.metrics.upstreamDuration)(route.label);

  return async function proxy(incoming, outgoing, proxied) {
    const requestId = newRequestId();
    const clientRequestId = headerValue(incoming.rawHeaders, 'x-request-id');
    const responseRequestId = clientRequestId ?? requestId;
    proxied.responseRequestId = responseRequestId;
    if (!isPlainPath(incoming.url ?? '')) throw new GatewayError('not_found', 'No route for a path with dot segments or encoded separators.');

    const identified = identify(incoming.rawHeaders, deps.directory);
    // A key the cache knows is answered at once: no await, which costs a turn of the microtask queue.
    const caller = identified instanceof Promise ? await identified : identified;
    const sent = upstreamBody(route.label, await readRequestBody(incoming, deps.maxBodyBytes));
    const admitted = route.costBearing(incoming.method ?? 'GET')
      ? deps.guard.admit(caller, { endpoint: route.label, model: sent.model, body: sent.json }, requestId)
      : undefined;
    // Admitted at once (a lease's slice, the in-process store): no await either.
    const admission = admitted instanceof Promise ? await admitted : admitted;
    const budgetHeaders = admission?.headers ?? (await deps.guard.view(caller));
    proxied.budgetHeaders = budgetHeaders;

    const exchange = new Exchange(
      outgoing,
      // The budget headers go in as they are (shared while a budget's spend stands still): a spread
      // with one more key was 1.4 % of the gateway's CPU.
      { ownHeaders: budgetHeaders, requestId: responseRequestId, readUsage: admission !== undefined, stripUsageEvent: sent.stripUsageEvent },
      (end: ExchangeEnd) => {
        if (end.upstreamMs > 0) {
          upstreamDuration.observe(end.upstreamMs / 1000);
          proxied.upstreamMs = end.upstreamMs;
        }
        if (end.error && end.statusCode !== undefined && !(end.error instanceof ClientClosedError)) {
          logger.warn({ requestId, route: route.label, err: end.error.message }, 'upstream failed mid-response');
        }
        if (admission) {
          deps.settlement.complete(admission, {
            statusCode: end.statusCode,
            usage: end.usage,
            costHeader: end.costHeader,
            clientRequestId: clientRequestId ?? null,
            endpoint: route.label,
            model: sent.model,
          });
        }
      },
    );
    // `on`, not `once` (which wraps the listener per request): a response closes once, and a
    // close after the exchange ended does nothing.
    outgoing.on('close', () => exchange.clientClosed());

    const authorization = upstreamAuthorization(caller, deps.gatewayUpstreamKey);
    try {
      await breaker.fire(() => exchange.start(upstream.pool, dispatchOptions(incoming, upstream, sent.body, requestId, authorization)));
    } catch (err) {
      exchange.notSent(err as Error);
      // A 5xx rejects too (the breaker counts it), but its answer is already on its way.
      if (!exchange.headersReceived && !(err instanceof ClientClosedError)) throw upstreamFailure(err, breaker.retryAfterSeconds);
    }
  };
}

function dispatchOptions(
  incoming: IncomingMessage,
  upstream: Upstream,
  body: RequestBody,
  requestId: string,
  authorization: string | null | undefined,
): Dispatcher.DispatchOptions {
  return {
    method: incoming.method as Dispatcher.HttpMethod,
    path: upstream.basePath + incoming.url,
    headers: upstreamHeaders(incoming.rawHeaders, { requestId, bodyReplaced: body.kind === 'json', authorization }),
    body: body.kind === 'none' ? null : body.kind === 'json' ? body.bytes : body.stream,
  };
}
