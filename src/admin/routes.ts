import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../app-env.js';
import { GatewayError } from '../errors.js';
import { adminAuth } from './auth.js';
import type { AdminContext } from './context.js';
import { removeGlobal, putGlobal, showGlobal } from './global.js';
import { addKey, listKeys, removeKey } from './keys.js';
import { notificationFeed, retryNotification } from './notifications.js';
import { grant, remove } from './overrides.js';
import { auditFeed, tenantUsage } from './records.js';
import { listTenantViews, putTenant, removeTenant, showTenant, unknownTenant } from './tenants.js';
import { auditQuery, globalBody, keyBody, listQuery, notificationQuery, overrideBody, readBody, readQuery, readTenantId, tenantBody, usageQuery } from './validation.js';

/** Admin bodies are small JSON documents; anything larger is refused before it is read. */
const MAX_ADMIN_BODY_BYTES = 64 * 1024;

export interface AdminRoutesDeps extends AdminContext {
  readonly adminKey: string;
  /** Starts a new period for the tenant now; false when there is no such tenant. */
  readonly resetBudget: (tenantId: string, actor: string) => Promise<boolean>;
}

/**
 * The admin API of CONTRACT section 6, mounted at /admin. Each handler parses its input, calls
 * one admin operation and returns its answer; errors are GatewayErrors rendered by the app.
 */
export function adminRoutes(deps: AdminRoutesDeps): Hono<AppEnv> {
  const admin = new Hono<AppEnv>();
  admin.use(adminAuth(deps.adminKey));
  admin.use(
    bodyLimit({
      maxSize: MAX_ADMIN_BODY_BYTES,
      onError: () => {
        throw new GatewayError('request_too_large', `Admin request bodies are limited to ${MAX_ADMIN_BODY_BYTES} bytes.`);
      },
    }),
  );

  admin.get('/tenants', async (c) => c.json(await listTenantViews(deps, readQuery(c, listQuery))));
  admin.put('/tenants/:tenant_id', async (c) => {
    const tenantId = readTenantId(c);
    const { created, view } = await putTenant(deps, tenantId, await readBody(c, tenantBody), c.get('actor'));
    return c.json(view, created ? 201 : 200);
  });
  admin.get('/tenants/:tenant_id', async (c) => c.json(await showTenant(deps, readTenantId(c))));
  admin.delete('/tenants/:tenant_id', async (c) => {
    const tenantId = readTenantId(c);
    await removeTenant(deps, tenantId, c.get('actor'));
    return c.json({ success: true, tenant_id: tenantId });
  });

  admin.post('/tenants/:tenant_id/keys', async (c) => {
    const tenantId = readTenantId(c);
    return c.json(await addKey(deps, tenantId, await readBody(c, keyBody), c.get('actor')), 201);
  });
  admin.get('/tenants/:tenant_id/keys', async (c) => c.json(await listKeys(deps, readTenantId(c))));
  admin.delete('/tenants/:tenant_id/keys/:key_id', async (c) => {
    const tenantId = readTenantId(c);
    const keyId = c.req.param('key_id');
    await removeKey(deps, tenantId, keyId, c.get('actor'));
    return c.json({ success: true, tenant_id: tenantId, key_id: keyId });
  });

  admin.post('/tenants/:tenant_id/budget-override', async (c) => {
    const tenantId = readTenantId(c);
    const input = await readBody(c, overrideBody);
    const replace = c.req.query('replace') === 'true';
    return c.json(await grant(deps, tenantId, input, { replace, actor: c.get('actor') }), 201);
  });
  admin.delete('/tenants/:tenant_id/budget-override', async (c) => c.json(await remove(deps, readTenantId(c), c.get('actor'))));

  admin.post('/tenants/:tenant_id/budget-reset', async (c) => {
    const tenantId = readTenantId(c);
    if (!(await deps.resetBudget(tenantId, c.get('actor')))) throw unknownTenant(tenantId);
    return c.json(await showTenant(deps, tenantId));
  });

  admin.get('/tenants/:tenant_id/usage', async (c) => c.json(await tenantUsage(deps, readTenantId(c), readQuery(c, usageQuery))));
  admin.get('/budgets/global', async (c) => c.json(await showGlobal(deps)));
  admin.put('/budgets/global', async (c) => {
    const { created, view } = await putGlobal(deps, await readBody(c, globalBody), c.get('actor'));
    return c.json(view, created ? 201 : 200);
  });
  admin.delete('/budgets/global', async (c) => {
    await removeGlobal(deps, c.get('actor'));
    return c.json({ success: true });
  });

  admin.get('/audit', async (c) => c.json(await auditFeed(deps, readQuery(c, auditQuery))));
  admin.get('/notifications', async (c) => c.json(await notificationFeed(deps, readQuery(c, notificationQuery))));
  admin.post('/notifications/:id/retry', async (c) => c.json(await retryNotification(deps, c.req.param('id'))));
  return admin;
}
