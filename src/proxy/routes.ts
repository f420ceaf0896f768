/**
 * The OpenAI paths the gateway proxies (CONTRACT section 4), each served with and without the
 * `/v1` prefix. The metric label is the `/v1` template, so both spellings count as one route.
 */

export interface ProxyRoute {
  /** Hono path patterns that serve this route. */
  readonly patterns: readonly string[];
  /** Route template used as the metric label. */
  readonly label: string;
  /** Whether the request spends budget; only listing models is free. */
  readonly costBearing: (method: string) => boolean;
}

const always = () => true;
const unlessGet = (method: string) => method !== 'GET' && method !== 'HEAD';

function route(path: string, costBearing: (method: string) => boolean = always): ProxyRoute {
  return { patterns: [`/v1/${path}`, `/${path}`], label: `/v1/${path}`, costBearing };
}

// Exact paths come before their wildcards so they keep their own label.
export const PROXY_ROUTES: readonly ProxyRoute[] = [
  route('chat/completions'),
  route('completions'),
  route('embeddings'),
  route('responses'),
  route('responses/*'),
  route('images/*'),
  route('audio/*'),
  route('moderations'),
  route('rerank'),
  route('models', unlessGet),
  route('models/*', unlessGet),
];

/**
 * The path goes upstream as the client wrote it, so it must mean there what it meant to the
 * router here: a dot segment or an encoded slash, backslash or dot could be resolved by LiteLLM
 * or a proxy before it into a route the gateway never matched (`/v1/audio/..%2f..%2fkey/update`).
 */
export function isPlainPath(rawUrl: string): boolean {
  const query = rawUrl.indexOf('?');
  return !NOT_PLAIN.test(query === -1 ? rawUrl : rawUrl.slice(0, query));
}

/** An encoded slash, dot or backslash, a backslash, or a `.` or `..` segment. One pass, no arrays: it runs on every request. */
const NOT_PLAIN = /%2[ef]|%5c|\\|(?:^|\/)\.\.?(?:\/|$)/i;
