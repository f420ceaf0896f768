import { Pool } from 'undici';
import type { UpstreamConfig } from '../config.js';
import { GatewayError } from '../errors.js';

/** The connection pool to LiteLLM, and where on it the proxied paths go. */
export interface Upstream {
  readonly pool: Pool;
  /** Path prefix of LITELLM_BASE_URL (e.g. `/litellm`), prepended to every proxied path. */
  readonly basePath: string;
}

export function createUpstream(baseUrl: string, config: UpstreamConfig): Upstream {
  const url = new URL(baseUrl);
  const pool = new Pool(url.origin, {
    connections: config.connections,
    connectTimeout: config.connectTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.bodyTimeoutMs,
    keepAliveTimeout: config.keepAliveMs,
  });
  return { pool, basePath: url.pathname.replace(/\/+$/, '') };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Maps a failure before the upstream's headers to the contract error the client gets. */
export function upstreamFailure(err: unknown, retryAfterSeconds: () => number): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EOPENBREAKER') {
    return new GatewayError('circuit_open', 'The upstream is failing; requests are paused until it recovers.', {
      'retry-after': String(retryAfterSeconds()),
    });
  }
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new GatewayError('upstream_timeout', 'The upstream did not answer in time.');
  }
  return new GatewayError('upstream_unreachable', 'The upstream could not be reached.');
}
