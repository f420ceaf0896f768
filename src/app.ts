import { Hono, type Context } from 'hono';
import { adminRoutes, type AdminRoutesDeps } from './admin/routes.js';
import { adminPage } from './admin/ui/route.js';
import { litellmAlertRoutes, type LitellmAlertDeps } from './alerts/routes.js';
import type { AppEnv } from './app-env.js';
import { isDatabaseUnavailable } from './db/errors.js';
import { GatewayError, errorResponse, internalError } from './errors.js';
import { healthRoutes, type ReadinessCheck } from './http/health.js';
import type { InFlight } from './http/in-flight.js';
import { observe } from './http/observe.js';
import { forward, type ForwardDeps } from './proxy/forward.js';
import { PROXY_ROUTES } from './proxy/routes.js';

export interface AppDeps extends ForwardDeps {
  readonly inFlight: InFlight;
  readonly readiness: readonly ReadinessCheck[];
  /** The admin API; absent where there is no database (the bench's plain proxy). */
  readonly admin?: AdminRoutesDeps;
  /** The inbound LiteLLM alert webhook; absent where there is no database (the bench's plain proxy). */
  readonly litellmAlerts?: LitellmAlertDeps;
}

/** Builds the HTTP app from its parts; no I/O happens here, so tests build one per case. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(observe(deps.metrics, deps.inFlight));
  app.route('/', healthRoutes(deps.metrics, deps.readiness));
  if (deps.admin) {
    // Before the admin API and its key check: the page is public, everything else under /admin is not.
    app.get('/admin/ui', adminPage());
    app.route('/admin', adminRoutes(deps.admin));
  }
  if (deps.litellmAlerts) app.route('/', litellmAlertRoutes(deps.litellmAlerts));
  for (const route of PROXY_ROUTES) {
    const handler = forward(deps, route);
    for (const pattern of route.patterns) app.all(pattern, handler);
  }
  app.notFound((c) => {
    c.set('route', 'unmatched');
    return renderError(c, new GatewayError('not_found', `No route for ${c.req.method} ${c.req.path}.`));
  });
  app.onError((err, c) => {
    if (err instanceof GatewayError) return renderError(c, err);
    if (isDatabaseUnavailable(err)) {
      deps.logger.error({ err: (err as Error).message, route: c.get('route') }, 'database unavailable');
      return renderError(c, new GatewayError('database_unavailable', 'The database is unavailable; try again shortly.', { 'retry-after': '5' }));
    }
    deps.logger.error({ err, route: c.get('route') }, 'unhandled error');
    return renderError(c, internalError());
  });
  return app;
}

/** The only writer of error bodies (CONTRACT section 5). */
function renderError(c: Context<AppEnv>, err: GatewayError): Response {
  const { status, headers, body } = errorResponse(err);
  // An error's own headers win: a 402 carries the refusal's x-budget-* view.
  Object.assign(headers, c.get('budgetHeaders'), err.headers);
  const requestId = c.get('responseRequestId');
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  return new Response(body, { status, headers });
}
