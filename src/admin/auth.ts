import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';
import { GatewayError } from '../errors.js';

/**
 * `Authorization: Bearer <ADMIN_API_KEY>` on every admin route (CONTRACT section 6). Both sides
 * are hashed first so the comparison is constant-time whatever the presented length; the actor
 * recorded in the audit log is the key's fingerprint, never the key.
 */
export function adminAuth(adminKey: string): MiddlewareHandler<AppEnv> {
  const expected = digest(adminKey);
  const actor = adminActor(adminKey);
  return async function adminAuthorize(c, next) {
    const header = c.req.header('authorization') ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!timingSafeEqual(digest(presented), expected)) {
      throw new GatewayError('invalid_api_key', 'Missing or invalid admin key: send Authorization: Bearer <ADMIN_API_KEY>.', {
        'www-authenticate': 'Bearer realm="budget-gateway admin"',
      });
    }
    c.set('actor', actor);
    await next();
  };
}

/** `admin:<first 8 hex of SHA-256(key)>`: tells admins' keys apart in the audit log, reveals nothing. */
export function adminActor(adminKey: string): string {
  return `admin:${digest(adminKey).toString('hex').slice(0, 8)}`;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** A fresh admin key for a process started without ADMIN_API_KEY (printed once, at start). */
export function generateAdminKey(): string {
  return `bg-admin-${randomBytes(24).toString('base64url')}`;
}
