import type { HttpBindings } from '@hono/node-server';
import type { Proxied } from './proxy/forward.js';

/** What middleware hands to handlers, typed once (no casts on `c.get`). */
export interface AppVariables {
  /** Route template for metric labels, when the handler knows a better one than Hono's. */
  route: string | undefined;
  /** A proxied request's ids, budget headers and upstream time, as the proxy learns them. */
  proxied: Proxied | undefined;
  /** Admin routes: who is acting, for the audit log (the admin key's fingerprint). */
  actor: string;
}

export type AppEnv = { Bindings: HttpBindings; Variables: AppVariables };
