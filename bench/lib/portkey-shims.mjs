// Preloaded into the Portkey gateway by the bench (`node --import <this file> start-server.js …`).
// Shims for things @portkey-ai/gateway 1.15.2 cannot be told to do; see bench/README.md.
//
// 1. Loopback only. start-server.js calls `serve({ fetch, port })` from @hono/node-server without a
//    hostname, so Node would listen on every interface (`::`); it reads no host option or variable.
//    Any listen() that names no host binds to BENCH_LISTEN_HOST (default 127.0.0.1) instead; calls
//    naming a host, a path or a handle are left alone. bench/lib/portkey.ts then checks
//    /proc/net/tcp* that the port is bound to loopback only.
// 2. Streamed responses. With its bundled @hono/node-server 1.19 (newer than 1.14.2), Portkey wraps
//    the upstream's fetch Response, whose headers are immutable, and then appends its x-portkey-*
//    headers to them: every streamed chat completion fails with `TypeError: immutable` and a 500
//    (Portkey-AI/gateway#1389, #1550). Upstream responses that are event streams are re-wrapped in a
//    Response with a mutable copy of the headers (same body stream, no buffering); every other
//    response is passed through untouched, so the non-streamed scenarios run Portkey as shipped.
import net from 'node:net';

const host = process.env.BENCH_LISTEN_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first, second] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (second === undefined || second === null) args[1] = host;
    else if (typeof second === 'function') args.splice(1, 0, host);
  } else if (first !== null && typeof first === 'object' && first.host === undefined && first.path === undefined && !('fd' in first) && !('_handle' in first)) {
    args[0] = { ...first, host };
  }
  return listen.apply(this, args);
};

// Captured now, before @hono/node-server replaces globalThis.Response with its own class.
const GlobalResponse = globalThis.Response;
const fetch = globalThis.fetch;

globalThis.fetch = async function fetchWithMutableStreamHeaders(input, init) {
  const response = await fetch(input, init);
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) return response;
  return new GlobalResponse(response.body, { status: response.status, statusText: response.statusText, headers: new Headers(response.headers) });
};

// 3. A clean exit on SIGTERM (Portkey installs no handler, so the default would kill it outright),
//    so that `node --cpu-prof` gets to write its profile when bench/profile.ts stops it.
process.once('SIGTERM', () => process.exit(0));
