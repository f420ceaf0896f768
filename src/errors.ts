/**
 * Every error the gateway itself answers with (CONTRACT section 5): one code per row, one table
 * from code to status, type and headers. Only `errorResponse` writes error bodies, so the shape
 * cannot drift between the Hono routes and the streaming proxy path.
 */

export type ErrorCode =
  | 'budget_exceeded'
  | 'token_budget_exceeded'
  | 'request_budget_exceeded'
  | 'invalid_api_key'
  | 'invalid_webhook_secret'
  | 'invalid_json'
  | 'malformed_request'
  | 'headers_too_large'
  | 'request_timeout'
  | 'request_too_large'
  | 'not_found'
  | 'circuit_open'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'budget_store_unavailable'
  | 'invalid_field'
  | 'override_active'
  | 'key_already_registered'
  | 'database_unavailable'
  | 'internal_error';

interface ErrorKind {
  readonly status: number;
  readonly type: string;
}

const KINDS: Record<ErrorCode, ErrorKind> = {
  budget_exceeded: { status: 402, type: 'budget_exceeded' },
  token_budget_exceeded: { status: 402, type: 'budget_exceeded' },
  request_budget_exceeded: { status: 402, type: 'budget_exceeded' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  // The inbound LiteLLM alert webhook (CONTRACT section 7): neither signature nor token proves the secret.
  invalid_webhook_secret: { status: 401, type: 'authentication_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  // Requests Node's HTTP parser refuses before any route sees them (src/http/client-error.ts).
  malformed_request: { status: 400, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  circuit_open: { status: 503, type: 'upstream_unavailable' },
  upstream_unreachable: { status: 502, type: 'upstream_error' },
  upstream_timeout: { status: 504, type: 'upstream_error' },
  budget_store_unavailable: { status: 503, type: 'budget_unavailable' },
  invalid_field: { status: 422, type: 'validation_error' },
  // Admin conflicts and outages beyond the contract's table, in its shape.
  override_active: { status: 409, type: 'invalid_request_error' },
  key_already_registered: { status: 409, type: 'invalid_request_error' },
  database_unavailable: { status: 503, type: 'service_unavailable' },
  internal_error: { status: 500, type: 'internal_error' },
};

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    readonly details?: readonly FieldProblem[],
  ) {
    super(message);
    this.status = KINDS[code].status;
    this.type = KINDS[code].type;
  }
}

export interface ErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function errorResponse(err: GatewayError): ErrorResponse {
  const error: Record<string, unknown> = { message: err.message, type: err.type, param: null, code: err.code };
  if (err.details) error.details = err.details;
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers },
    body: JSON.stringify({ error }),
  };
}

/** What the client sees for a failure we did not anticipate: never the internals. */
export const internalError = (): GatewayError => new GatewayError('internal_error', 'The gateway failed to handle the request.');
