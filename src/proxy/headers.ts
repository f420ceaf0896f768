import { util } from 'undici';

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

/** What the gateway reads off the upstream's response head, in the pass that builds the client's. */
export interface UpstreamHead {
  /** The client's headers, as the flat [name, value, …] list `writeHead` takes. */
  readonly headers: string[];
  /** LiteLLM's `x-litellm-response-cost` (its first line). */
  readonly costHeader: string | undefined;
  readonly contentType: string | undefined;
  readonly hasLength: boolean;
}

/**
 * The upstream's response head as undici's core hands it over (names and values as bytes, one
 * pair per header line), turned into the client's headers in one pass: the upstream's end-to-end
 * headers, a line sent twice passed twice, then the gateway's own (which replace the upstream's of
 * the same name) and `x-request-id`. `dropLength` leaves out content-length (the gateway changes
 * the body's length). Names are lower-cased through undici's table of known names, which makes no
 * new string for them; values are read as latin1, as undici's own header objects are.
 */
export function readUpstreamHead(
  raw: readonly Buffer[],
  own: Readonly<Record<string, string>>,
  requestId: string,
  dropLength: boolean,
): UpstreamHead {
  const headers: string[] = [];
  let costHeader: string | undefined;
  let contentType: string | undefined;
  let hasLength = false;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i]!);
    const value = raw[i + 1]!.toString('latin1');
    if (name === 'x-litellm-response-cost') costHeader ??= value;
    else if (name === 'content-type') contentType ??= value;
    else if (name === 'content-length') {
      hasLength = true;
      if (dropLength) continue;
    } else if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    if (HOP_BY_HOP.has(name) || Object.hasOwn(own, name) || name === 'x-request-id') continue;
    headers.push(name, value);
  }
  // Headers the Connection header names are this connection's too (rare: found after the pass).
  const named = connection === undefined ? undefined : tokens(connection);
  const passed = named === undefined ? headers : withoutNamed(headers, named);
  for (const name in own) passed.push(name, own[name]!);
  passed.push('x-request-id', requestId);
  return { headers: passed, costHeader, contentType, hasLength };
}

function withoutNamed(headers: readonly string[], named: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!named.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
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
