import { GatewayError } from '../errors.js';
import { headerValue } from '../proxy/headers.js';
import type { Caller, TenantDirectory } from './tenant-directory.js';

/** The API key of a request: `Authorization: Bearer <key>` or Azure-style `api-key: <key>`. */
export function apiKeyOf(rawHeaders: readonly string[]): string | undefined {
  const authorization = headerValue(rawHeaders, 'authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  return headerValue(rawHeaders, 'api-key')?.trim() || undefined;
}

/**
 * The tenant behind the request's key, or 401 (missing, unknown or revoked key): at once when the
 * directory's cache holds the answer (nearly every request), else a promise of it. Throws at once
 * for a missing key, and for a key known to be unknown.
 */
export function identify(rawHeaders: readonly string[], directory: Pick<TenantDirectory, 'known' | 'resolve'>): Caller | Promise<Caller> {
  const key = apiKeyOf(rawHeaders);
  if (key === undefined) {
    throw new GatewayError('invalid_api_key', 'Missing API key: send it as "Authorization: Bearer <key>".');
  }
  const known = directory.known(key);
  if (known !== undefined) return known ?? invalidKey();
  return directory.resolve(key).then((caller) => caller ?? invalidKey());
}

function invalidKey(): never {
  throw new GatewayError('invalid_api_key', 'Invalid API key: it is unknown or has been revoked.');
}

/**
 * The credential LiteLLM gets. A key registered from LiteLLM is the tenant's virtual key and goes
 * through unchanged (undefined: keep the client's headers); a key the gateway minted means
 * nothing to LiteLLM and is replaced by the tenant's upstream key or the gateway's own.
 */
export function upstreamAuthorization(caller: Caller, gatewayKey: string | undefined): string | null | undefined {
  if (caller.origin === 'registered') return undefined;
  const key = caller.tenant.upstreamKey ?? gatewayKey;
  return key === undefined ? null : `Bearer ${key}`;
}
