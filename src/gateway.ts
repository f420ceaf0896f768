import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { InFlight } from './http/in-flight.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createBreaker } from './proxy/breaker.js';
import { createUpstream } from './proxy/upstream.js';

export interface Gateway {
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets in-flight requests (streams too) finish up to the drain timeout, closes pools. */
  shutdown(): Promise<{ drained: boolean }>;
}

/** Wires the adapters to the app and listens. The only place that chooses implementations. */
export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics();
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
  ];
  const app = createApp({ upstream, breaker, metrics, logger, inFlight, readiness, maxBodyBytes: config.maxBodyBytes });

  const server = await listen(app.fetch, config.port, config.host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, upstream: config.litellmBaseUrl }, 'budget-gateway listening');

  return {
    url,
    port,
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
      logger.info({ drained }, 'shut down');
      return { drained };
    },
  };
}

function listen(fetch: Parameters<typeof serve>[0]['fetch'], port: number, hostname: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }) as Server;
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
