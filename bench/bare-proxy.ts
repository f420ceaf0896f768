// Bench-only "bare proxy": the least a Node reverse proxy does, with the same building blocks as
// the gateway (node:http in front, an undici Pool behind, with the gateway's default pool size) and
// nothing else: no routing, no body parsing, no metrics, no breaker, no logging. It is the
// ceiling for any Node proxy between the load generator and the simulator on the same cores, so
// the bench can tell how much of the distance to direct is proxying itself and how much is ours.
//
// It reads the request body whole (as the gateway does with a JSON body), streams the answer back
// and drops hop-by-hop headers both ways; that is all.
// Env: PORT, HOST, LITELLM_BASE_URL. Prints `bare proxy listening on <url>` when ready.
// Usage: node dist-bench/bench/bare-proxy.js

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, util, type Dispatcher } from 'undici';
import { loadConfig } from '../src/config.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

const config = loadConfig(process.env);
const upstream = new URL(config.litellmBaseUrl);
const basePath = upstream.pathname.replace(/\/+$/, '');
const pool = new Pool(upstream.origin, { connections: config.upstream.connections, keepAliveTimeout: config.upstream.keepAliveMs });

function requestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function responseHeaders(raw: readonly Buffer[]): { headers: string[]; hasLength: boolean } {
  const headers: string[] = [];
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i]!);
    if (name === 'content-length') hasLength = true;
    if (!HOP_BY_HOP.has(name)) headers.push(name, raw[i + 1]!.toString('latin1'));
  }
  return { headers, hasLength };
}

/**
 * Writes the upstream's answer to the client as it arrives; the client's backpressure pauses it.
 * The handler interface undici's core calls, with the raw header lines, as the gateway's
 * `Exchange` (src/proxy/exchange.ts) implements it.
 */
function relay(res: ServerResponse): Dispatcher.DispatchHandler {
  let resume: () => void = () => {};
  return {
    onConnect() {},
    onHeaders(statusCode, rawHeaders, resumeUpstream) {
      if (statusCode < 200) return true;
      resume = resumeUpstream;
      const { headers, hasLength } = responseHeaders(rawHeaders);
      res.writeHead(statusCode, headers);
      if (!hasLength) res.flushHeaders();
      return true;
    },
    onData(chunk) {
      if (res.write(chunk)) return true;
      res.once('drain', () => resume());
      return false;
    },
    onComplete() {
      res.end();
    },
    onError(err) {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`bare proxy: ${err.message}\n`);
    },
  };
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: basePath + req.url, headers: requestHeaders(req.rawHeaders), body }, relay(res));
  });
});

server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`bare proxy listening on http://${config.host}:${port}`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void pool.destroy().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
