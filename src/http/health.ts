import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import type { Metrics } from '../metrics.js';

/** Something /readyz waits for: the database, the store, migrations; it throws while not ready. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void> | void;
}

/** `/healthz`, `/readyz` and `/metrics` (CONTRACT section 10). */
export function healthRoutes(metrics: Metrics, readiness: readonly ReadinessCheck[]): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.get('/healthz', (c) => c.json({ status: 'ok' }));

  routes.get('/readyz', async (c) => {
    const results = await Promise.all(
      readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(Promise.resolve(check()), CHECK_TIMEOUT_MS);
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, reason: (err as Error).message };
        }
      }),
    );
    const failing = results.filter((r) => !r.ok);
    if (failing.length === 0) return c.json({ status: 'ready' });
    return c.json({ status: 'not_ready', not_ready: failing.map(({ name, reason }) => ({ name, reason })) }, 503);
  });

  routes.get('/metrics', async (c) => {
    const body = await metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': metrics.registry.contentType });
  });

  return routes;
}

/** A probe must answer quickly even when a dependency hangs (a database behind a dead network). */
const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
