import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { generateAdminKey } from './admin/auth.js';
import { createApp, type App } from './app.js';
import type { Config } from './config.js';
import { answerClientError, answerUnbuildableRequest } from './http/client-error.js';
import { InFlight } from './http/in-flight.js';
import { resetBudgetNow } from './jobs/manual-reset.js';
import { repeatedLogs, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createBreaker } from './proxy/breaker.js';
import type { Database } from './db/client.js';
import { createUpstream } from './proxy/upstream.js';
import { startServices, type Services } from './services.js';

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly services: Services;
  /** Stops accepting, lets in-flight requests (streams too) finish up to the drain timeout, closes pools. */
  shutdown(): Promise<{ drained: boolean }>;
}

export interface GatewayOptions {
  /** The clock every budget decision reads (tests move it; production uses the system's). */
  readonly now?: () => number;
  /** An open database to share (tests); otherwise DATABASE_URL or the embedded one is opened. */
  readonly database?: Database;
}

/** Wires the services to the app and listens. */
export async function startGateway(config: Config, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  const now = options.now ?? Date.now;
  const metrics = createMetrics({ tenantLabelCap: config.budget.metricsTenantCap });
  const services = await startServices(config, metrics, logger, now, options.database);
  const inFlight = new InFlight();
  const upstream = createUpstream(config.litellmBaseUrl, config.upstream);
  const breaker = createBreaker(config.breaker, metrics, logger);
  let stopping = false;
  const readiness = [
    {
      name: 'process',
      check: () => {
        if (stopping) throw new Error('shutting down');
      },
    },
    ...services.readiness,
  ];
  const app = createApp({
    upstream,
    breaker,
    metrics,
    logger,
    inFlight,
    readiness,
    directory: services.directory,
    guard: services.guard,
    settlement: services.settlement,
    maxBodyBytes: config.maxBodyBytes,
    gatewayUpstreamKey: config.litellmApiKey,
    admin: {
      db: services.database.db,
      store: services.store,
      invalidation: services.invalidation,
      logger,
      now,
      tenantDefaults: config.configFile.tenant_defaults,
      litellmSync: config.litellmMasterKey !== undefined,
      adminKey: adminKeyFor(config, logger),
      resetBudget: (tenantId, actor) =>
        resetBudgetNow(
          { db: services.database.db, store: services.store, invalidation: services.invalidation, logger, litellmSync: config.litellmMasterKey !== undefined },
          tenantId,
          actor,
          now(),
        ),
    },
    litellmAlerts: { db: services.database.db, secret: config.litellmWebhookSecret, now, logger },
  });

  const { server, url, port } = await listen(app, config.port, config.host);
  logger.info({ url, upstream: config.litellmBaseUrl, ...services.mode }, 'budget-gateway listening');

  return {
    url,
    port,
    services,
    async shutdown() {
      stopping = true;
      logger.info({ inFlight: inFlight.count, drainMs: config.shutdownDrainMs }, 'shutting down: draining');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const drained = await inFlight.idle(config.shutdownDrainMs);
      if (!drained) logger.warn({ inFlight: inFlight.count }, 'drain timeout: closing the remaining connections');
      server.closeAllConnections();
      await closed;
      breaker.shutdown();
      await (drained ? upstream.pool.close() : upstream.pool.destroy());
      await services.stop();
      repeatedLogs(logger).flush();
      logger.info({ drained }, 'shut down');
      return { drained };
    },
  };
}

/**
 * ADMIN_API_KEY, or one generated for this process and printed once (CONTRACT section 1): on
 * stderr, whatever LOG_LEVEL says, and never into the JSON log stream that log shippers keep.
 */
function adminKeyFor(config: Config, logger: Logger): string {
  if (config.adminApiKey !== undefined) return config.adminApiKey;
  const generated = generateAdminKey();
  process.stderr.write(`ADMIN_API_KEY is not set; the admin key for this process is: ${generated}\n`);
  logger.warn('ADMIN_API_KEY is not set: generated an admin key for this process (printed once on stderr)');
  return generated;
}

/** How long an idle client connection stays open: longer than a load balancer's 60 s. */
const CLIENT_KEEPALIVE_MS = 65_000;

/**
 * Why the server could not listen, naming the variable to change (CONTRACT section 1): a host
 * that does not resolve or is not this machine's is HOST's fault, a port taken or privileged PORT's.
 */
function listenError(err: NodeJS.ErrnoException, hostname: string, port: number): Error {
  const variable = err.code === 'EADDRINUSE' || err.code === 'EACCES' ? 'PORT' : 'HOST';
  return new Error(`${variable}: cannot listen on ${hostname}:${port}: ${err.message}`);
}

/**
 * Serves the app on Node's HTTP server (the proxy's hot paths first, everything else through
 * Hono's adapter); resolves once listening, with the URL it answers on.
 */
export function listen(app: App, port: number, hostname: string): Promise<{ server: Server; url: string; port: number }> {
  const viaHono = getRequestListener(app.hono.fetch, { hostname, errorHandler: answerUnbuildableRequest });
  return new Promise((resolve, reject) => {
    const server = createServer((incoming, outgoing) => {
      if (!app.hotPaths.serve(incoming, outgoing)) void viaHono(incoming, outgoing);
    });
    // Node closes an idle client connection after 5 s. A load balancer in front (AWS ALB, nginx)
    // keeps its own for 60 s, and one that reuses a connection just as the gateway closes it
    // answers its client 502. So the gateway waits longer than they do.
    server.keepAliveTimeout = CLIENT_KEEPALIVE_MS;
    server.headersTimeout = CLIENT_KEEPALIVE_MS + 1_000;
    server.on('clientError', answerClientError);
    const refused = (err: NodeJS.ErrnoException) => reject(listenError(err, hostname, port));
    server.once('error', refused);
    server.once('listening', () => {
      server.off('error', refused);
      const { port: bound } = server.address() as AddressInfo;
      const host = hostname.includes(':') ? `[${hostname}]` : hostname;
      resolve({ server, url: `http://${host}:${bound}`, port: bound });
    });
    server.listen(port, hostname);
  });
}
