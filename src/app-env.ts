import type { HttpBindings } from '@hono/node-server';

/** What middleware hands to handlers, typed once (no casts on `c.get`). */
export interface AppVariables {
  /** performance.now() at arrival, for durations. */
  startedAt: number;
  /** Route template for metric labels, when the handler knows a better one than Hono's. */
  route: string | undefined;
  /** The gateway's id for this request (proxied routes). */
  requestId: string | undefined;
  /** The id echoed to the client as x-request-id: its own, else the gateway's. */
  responseRequestId: string | undefined;
  /** The x-budget-* headers once the request was admitted; errors after that carry them too. */
  budgetHeaders: Readonly<Record<string, string>> | undefined;
  /** Time the upstream took, once it answered. */
  upstreamMs: number | undefined;
  /** Admin routes: who is acting, for the audit log (the admin key's fingerprint). */
  actor: string;
}

export type AppEnv = { Bindings: HttpBindings; Variables: AppVariables };
