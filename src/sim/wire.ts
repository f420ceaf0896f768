// How one simulated exchange reaches the socket: plain bodies, paced SSE streams and deliberate
// mid-response disconnects. Knows nothing about routes or options beyond what it is handed.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimRequestInfo } from './litellm.js';
import { errorBody } from './payloads.js';
import type { StreamPlan } from './streams.js';

export interface Exchange {
  info: SimRequestInfo;
  req: IncomingMessage;
  res: ServerResponse;
  // At most one pending timer per exchange (latency or chunk pacing), cleared when it settles.
  timer: ReturnType<typeof setTimeout> | undefined;
  settled: boolean;
  // Set when the sim itself cuts the connection, so that is not reported as a peer abort.
  cut: boolean;
  // Decided by disconnectRate: break this response halfway.
  disconnect: boolean;
  plan: StreamPlan | undefined;
  next: number;
  waited: boolean;
  delay: number;
  cutAt: number;
}

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

export function newExchange(req: IncomingMessage, res: ServerResponse): Exchange {
  return {
    info: { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: undefined },
    req, res, timer: undefined, settled: false, cut: false, disconnect: false,
    plan: undefined, next: 0, waited: false, delay: 0, cutAt: -1,
  };
}

type HeaderValue = string | string[] | undefined;

export function headerNumber(value: HeaderValue, fallback: number): number {
  if (typeof value !== 'string' || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export function headerFlag(value: HeaderValue): boolean {
  return value === '1' || value === 'true';
}

export function headerStatus(value: HeaderValue): number {
  const status = headerNumber(value, 0);
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 0;
}

export function sendRaw(ex: Exchange, status: number, body: string, cost?: string): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (cost !== undefined) headers['x-litellm-response-cost'] = cost;
  ex.res.writeHead(status, headers);
  // A truncated body under a full content-length is what a crashed upstream looks like.
  if (ex.disconnect) cut(ex, body.slice(0, body.length >> 1));
  else ex.res.end(body);
}

export function sendJson(ex: Exchange, status: number, payload: unknown, cost?: string): void {
  sendRaw(ex, status, JSON.stringify(payload), cost);
}

export function sendError(ex: Exchange, status: number, message?: string): void {
  sendRaw(ex, status, errorBody(status, message));
}

export function startStream(ex: Exchange, plan: StreamPlan, defaultDelayMs: number): void {
  const headers = ex.req.headers;
  ex.plan = plan;
  ex.delay = headerNumber(headers['x-sim-chunk-delay-ms'], defaultDelayMs);
  const cutAfter = headerNumber(headers['x-sim-disconnect-after-chunks'], -1);
  if (cutAfter >= 0) ex.cutAt = plan.firstPiece + Math.min(Math.floor(cutAfter), plan.pieceCount);
  else if (ex.disconnect) ex.cutAt = plan.firstPiece + (plan.pieceCount >> 1);
  ex.res.writeHead(200, SSE_HEADERS);
  // Cutting before the first frame still sends the headers: the client sees a stream that dies.
  if (ex.cutAt === 0) cut(ex, '');
  else pump(ex);
}

// Writes frames until the next content piece is due after a delay, the plan says to cut, or
// the stream is complete. Each frame is its own write so clients see chunks arrive over time.
function pump(ex: Exchange): void {
  const { frames, firstPiece, pieceCount } = ex.plan as StreamPlan;
  while (ex.next < frames.length) {
    const i = ex.next;
    if (ex.delay > 0 && !ex.waited && i >= firstPiece && i < firstPiece + pieceCount) {
      ex.waited = true;
      ex.timer = setTimeout(resume, ex.delay, ex);
      return;
    }
    const frame = frames[i] as string;
    ex.waited = false;
    ex.next = i + 1;
    if (ex.next === ex.cutAt) return cut(ex, frame);
    ex.res.write(frame);
  }
  ex.res.end();
}

function resume(ex: Exchange): void {
  ex.timer = undefined;
  if (!ex.settled) pump(ex);
}

// end-then-destroy rather than destroy(): Node corks chunked writes until the next tick, and a
// plain destroy() would drop the frames the client is meant to receive before the cut.
function cut(ex: Exchange, data: string): void {
  ex.cut = true;
  if (data) ex.res.write(data);
  else ex.res.flushHeaders();
  ex.req.socket.destroySoon();
}
