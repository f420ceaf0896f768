import { CliError } from './command.js';

/**
 * The admin API of a running gateway (CONTRACT section 6), as the CLI calls it: bearer key on
 * every call, JSON in and out, and every failure turned into one line that carries the API's own
 * message (a 422's field details included).
 */

/** An admin call that takes longer has lost its gateway; say so rather than hang a script. */
const CALL_TIMEOUT_MS = 30_000;

/** Paths are below /admin, e.g. `/tenants/acme`. */
export interface AdminClient {
  get(path: string): Promise<unknown>;
  /** Like `get`, but a 404 answers undefined ("not there") instead of failing. */
  find(path: string): Promise<unknown>;
  put(path: string, body: unknown): Promise<unknown>;
  post(path: string, body?: unknown): Promise<unknown>;
  delete(path: string): Promise<unknown>;
}

interface ApiErrorBody {
  readonly error?: { readonly message?: string; readonly code?: string; readonly details?: readonly { path: string; message: string }[] };
}

export function adminClient(baseUrl: string, adminKey: string): AdminClient {
  const root = `${baseUrl.replace(/\/+$/, '')}/admin`;

  async function call(method: string, path: string, body?: unknown, { missingIsUndefined = false } = {}): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(root + path, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CliError(`cannot reach the admin API at ${root}: ${reason(err)}`);
    }
    const payload: unknown = await response.json().catch(() => undefined);
    if (response.ok) return payload;
    if (response.status === 404 && missingIsUndefined) return undefined;
    throw new CliError(failure(method, path, response.status, payload as ApiErrorBody | undefined));
  }

  return {
    get: (path) => call('GET', path),
    find: (path) => call('GET', path, undefined, { missingIsUndefined: true }),
    put: (path, body) => call('PUT', path, body),
    post: (path, body) => call('POST', path, body ?? {}),
    delete: (path) => call('DELETE', path),
  };
}

/** `PUT /admin/tenants/x: 422 invalid_field: max_budget: must be >= 0; reason: ...` */
function failure(method: string, path: string, status: number, payload: ApiErrorBody | undefined): string {
  const error = payload?.error;
  const what = error?.details?.length
    ? error.details.map((d) => `${d.path}: ${d.message}`).join('; ')
    : (error?.message ?? 'no error message in the answer');
  return `${method} /admin${path}: ${status}${error?.code ? ` ${error.code}` : ''}: ${what}`;
}

function reason(err: unknown): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${CALL_TIMEOUT_MS / 1000} s`;
  // fetch wraps the socket's error (ECONNREFUSED, ENOTFOUND, ...) as its cause.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
