import { isDatabaseUnavailable } from '../db/errors.js';
import { GatewayError, errorResponse, internalError, type ErrorResponse } from '../errors.js';
import { repeatedLogs, type Logger } from '../logger.js';
import type { Proxied } from '../proxy/forward.js';

/**
 * The answer to a failure (CONTRACT section 5), for the Hono app and the proxy's hot paths
 * alike: a failure we anticipated answers as itself, a database that is away as a 503, anything
 * else as a logged 500 that shows none of the internals. A proxied request's error carries its
 * x-budget-* headers and x-request-id.
 */
export function errorReply(err: unknown, proxied: Proxied | undefined, route: string | undefined, logger: Logger): ErrorResponse {
  const error = asGatewayError(err, route, logger);
  const { status, headers, body } = errorResponse(error);
  // An error's own headers win: a 402 carries the refusal's x-budget-* view.
  Object.assign(headers, proxied?.budgetHeaders, error.headers);
  if (proxied?.responseRequestId !== undefined) headers['x-request-id'] = proxied.responseRequestId;
  return { status, headers, body };
}

function asGatewayError(err: unknown, route: string | undefined, logger: Logger): GatewayError {
  if (err instanceof GatewayError) return err;
  if (isDatabaseUnavailable(err)) {
    repeatedLogs(logger).error({ err: (err as Error).message, route }, 'database unavailable');
    return new GatewayError('database_unavailable', 'The database is unavailable; try again shortly.', { 'retry-after': '5' });
  }
  logger.error({ err, route }, 'unhandled error');
  return internalError();
}
