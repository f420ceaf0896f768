import type { IncomingHttpHeaders } from 'node:http';

/**
 * Header rules between client, gateway and upstream. Hop-by-hop headers (RFC 9110 section 7.6.1)
 * belong to one connection and are never forwarded, in either direction, nor are the headers a
 * `Connection` header names.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// Set by the gateway itself upstream: the Host of the pool, identity encoding (so usage can be
// read from the body later), its own call id; `expect` is answered by Node's server, and undici
// refuses to send it.
const REPLACED_UPSTREAM = new Set(['host', 'accept-encoding', 'x-litellm-call-id', 'expect']);

export interface UpstreamHeaderOptions {
  readonly requestId: string;
  /** Drop the client's content-length because the gateway sends a body of its own making. */
  readonly bodyReplaced: boolean;
  /** Replace the client's credentials with this Authorization (null: send none; undefined: keep them). */
  readonly authorization?: string | null | undefined;
}

const CREDENTIALS = new Set(['authorization', 'api-key']);

/** Flat [name, value, …] list for undici, built from the client's raw headers. */
export function upstreamHeaders(rawHeaders: readonly string[], options: UpstreamHeaderOptions): string[] {
  const named = connectionNamed(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || REPLACED_UPSTREAM.has(name) || named?.has(name)) continue;
    if (options.bodyReplaced && name === 'content-length') continue;
    if (options.authorization !== undefined && CREDENTIALS.has(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  if (options.authorization) out.push('authorization', options.authorization);
  out.push('accept-encoding', 'identity', 'x-litellm-call-id', options.requestId);
  return out;
}

/**
 * The upstream's response headers as the client gets them, plus the gateway's own (which replace
 * the upstream's of the same name), as the flat [name, value, …] list `writeHead` takes: building
 * an object for it to walk again cost a fifth of a µs more per answer. `dropLength` leaves out
 * content-length (the gateway changes the body's length).
 */
export function clientHeaders(
  upstream: IncomingHttpHeaders,
  own: Readonly<Record<string, string>>,
  requestId: string,
  dropLength: boolean,
): (string | string[])[] {
  const named = upstream.connection ? tokens(String(upstream.connection)) : undefined;
  const out: (string | string[])[] = [];
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || Object.hasOwn(own, name) || name === 'x-request-id') continue;
    if (dropLength && name === 'content-length') continue;
    out.push(name, value);
  }
  for (const name in own) out.push(name, own[name]!);
  out.push('x-request-id', requestId);
  return out;
}

export function headerValue(rawHeaders: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === lowerName.length && rawHeaders[i]!.toLowerCase() === lowerName) return rawHeaders[i + 1];
  }
  return undefined;
}

function connectionNamed(rawHeaders: readonly string[]): Set<string> | undefined {
  const value = headerValue(rawHeaders, 'connection');
  return value === undefined ? undefined : tokens(value);
}

// Nearly every request says just "keep-alive" or "close", which name no other header.
function tokens(value: string): Set<string> | undefined {
  if (PLAIN_CONNECTION.test(value)) return undefined;
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

const PLAIN_CONNECTION = /^\s*(keep-alive|close)\s*$/i;
