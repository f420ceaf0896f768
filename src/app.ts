import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import { adminRoutes, type AdminRoutesDeps } from './admin/routes.js';
import { adminPage } from './admin/ui/route.js';
import { litellmAlertRoutes, type LitellmAlertDeps } from './alerts/routes.js';
import type { AppEnv } from './app-env.js';
import { GatewayError } from './errors.js';
import { errorReply } from './http/error-reply.js';
import { healthRoutes, type ReadinessCheck } from './http/health.js';
import type { InFlight } from './http/in-flight.js';
import { RequestObserver, observe } from './http/observe.js';
import { forward, type ForwardDeps, type Proxied } from './proxy/forward.js';
import { HotPaths } from './proxy/hot-paths.js';
import { PROXY_ROUTES } from './proxy/routes.js';

export interface AppDeps extends ForwardDeps {
  readonly inFlight: InFlight;
  readonly readiness: readonly ReadinessCheck[];
  /** The admin API; absent where there is no database (the bench's plain proxy). */
  readonly admin?: AdminRoutesDeps;
  /** The inbound LiteLLM alert webhook; absent where there is no database (the bench's plain proxy). */
  readonly litellmAlerts?: LitellmAlertDeps;
}

export interface App {
  /** Every route: health, admin, alerts and the proxy. */
  readonly hono: Hono<AppEnv>;
  /** The proxy's literal paths, served without Hono's per-request machinery (see proxy/hot-paths.ts). */
  readonly hotPaths: HotPaths;
}

/** Builds the HTTP app from its parts; no I/O happens here, so tests build one per case. */
export function createApp(deps: AppDeps): App {
  const observer = new RequestObserver(deps.metrics, deps.inFlight);
  const hotPaths = new HotPaths(observer, deps.logger);
  const app = new Hono<AppEnv>();
  app.use(observe(observer));
  app.route('/', healthRoutes(deps.metrics, deps.readiness));
  if (deps.admin) {
    // Before the admin API and its key check: the page is public, everything else under /admin is not.
    app.get('/admin/ui', adminPage());
    app.route('/admin', adminRoutes(deps.admin));
  }
  if (deps.litellmAlerts) app.route('/', litellmAlertRoutes(deps.litellmAlerts));
  for (const route of PROXY_ROUTES) {
    const handler = forward(deps, route);
    for (const pattern of route.patterns) {
      if (!pattern.includes('*')) hotPaths.add(pattern, route.label, handler);
      // Through Hono too: wildcard routes, and literal paths the hot path leaves to the app.
      app.all(pattern, async (c) => {
        const proxied: Proxied = {};
        c.set('route', route.label);
        c.set('proxied', proxied);
        await handler(c.env.incoming, c.env.outgoing, proxied);
        return RESPONSE_ALREADY_SENT;
      });
    }
  }
  app.notFound((c) => {
    c.set('route', 'unmatched');
    return renderError(c, new GatewayError('not_found', `No route for ${c.req.method} ${c.req.path}.`));
  });
  app.onError((err, c) => renderError(c, err));
  return { hono: app, hotPaths };

  function renderError(c: Context<AppEnv>, err: unknown): Response {
    const { status, headers, body } = errorReply(err, c.get('proxied'), c.get('route'), deps.logger);
    return new Response(body, { status, headers });
  }
}
