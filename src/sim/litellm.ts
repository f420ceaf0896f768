// Simulated LiteLLM proxy: an OpenAI-compatible upstream for tests, benchmarks and the demo.
// Plain node:http because the benchmark drives it at ~12k req/s; per request we allocate one
// exchange record and the response body, nothing else. Wire-level writing lives in wire.ts.

import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimKeys, type SimKeyApiOptions } from './keys.js';
import * as p from './payloads.js';
import { type StreamPlan, chatStream, completionStream, responsesStream } from './streams.js';
import { type Exchange, headerFlag, headerNumber, headerStatus, newExchange, sendError, sendJson, startStream } from './wire.js';

export interface SimOptions extends SimKeyApiOptions {
  latencyMs: number;
  chunkDelayMs: number;
  chunks: number;
  errorRate: number;
  disconnectRate: number;
  streamUsageCost: boolean;
  inputCostPerToken: number;
  outputCostPerToken: number;
}

export interface SimRequestInfo {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface SimLiteLLM {
  url: string;
  port: number;
  options: SimOptions;
  events: EventEmitter;
  inFlight(): number;
  /** Latency or chunk-pacing timers still pending (close() must leave none). */
  pendingTimers(): number;
  requests: SimRequestInfo[];
  /** Virtual keys the key management endpoints know (`keys.add(key)`), with their spend and metadata. */
  keys: SimKeys;
  close(): Promise<void>;
}

const DEFAULTS: SimOptions = {
  latencyMs: 0,
  chunkDelayMs: 0,
  chunks: 5,
  errorRate: 0,
  disconnectRate: 0,
  streamUsageCost: false,
  inputCostPerToken: 0.000001,
  outputCostPerToken: 0.000002,
  masterKey: 'sk-sim-master',
  keyApiStatus: 0,
  keyResetRoute: true,
};
const MAX_CHUNKS = 10_000;
const REQUEST_LOG_SIZE = 100;

interface Route {
  costBearing: boolean;
  handle: (ex: Exchange, body: p.Json) => void;
}

// Accepts both `/v1/chat/completions` and `/chat/completions`, like LiteLLM does.
function routePath(url: string): string {
  const query = url.indexOf('?');
  let path = query === -1 ? url : url.slice(0, query);
  if (path.startsWith('/v1/')) path = path.slice(3);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

// A malformed escape must not throw out of the request handler and take the process down.
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

class Simulator implements SimLiteLLM {
  url = '';
  port = 0;
  readonly events = new EventEmitter();
  readonly requests: SimRequestInfo[] = [];
  readonly keys = new SimKeys();
  private readonly active = new Set<Exchange>();
  private closing = false;
  private readonly server = createServer((req, res) => this.onRequest(req, res));
  private readonly routes = new Map<string, Route>([
    ['POST /chat/completions', { costBearing: true, handle: (ex, body) => this.chat(ex, body) }],
    ['POST /completions', { costBearing: true, handle: (ex, body) => this.completion(ex, body) }],
    ['POST /embeddings', { costBearing: true, handle: (ex, body) => this.embeddings(ex, body) }],
    ['POST /responses', { costBearing: true, handle: (ex, body) => this.responses(ex, body) }],
    ['POST /moderations', { costBearing: true, handle: (ex, body) => this.moderations(ex, body) }],
    ['POST /rerank', { costBearing: true, handle: (ex, body) => this.rerank(ex, body) }],
    ['GET /models', { costBearing: false, handle: (ex) => sendJson(ex, 200, p.modelList()) }],
    ['GET /model/info', { costBearing: false, handle: (ex) => sendJson(ex, 200, p.modelInfo(this.options)) }],
    ['GET /health/liveliness', { costBearing: false, handle: (ex) => sendJson(ex, 200, "I'm alive!") }],
  ]);

  constructor(readonly options: SimOptions) {
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  inFlight(): number {
    return this.active.size;
  }

  pendingTimers(): number {
    let pending = 0;
    for (const ex of this.active) if (ex.timer !== undefined) pending++;
    return pending;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const ex of this.active) clearTimeout(ex.timer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ex = newExchange(req, res);
    this.active.add(ex);
    res.once('finish', () => this.settle(ex, 'finished'));
    // 'close' also follows a normal finish; settle() ignores the second call.
    res.once('close', () => this.settle(ex, ex.cut ? 'disconnected' : 'aborted'));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => this.onBody(ex, chunks));
  }

  private settle(ex: Exchange, outcome: 'finished' | 'aborted' | 'disconnected'): void {
    if (ex.settled) return;
    ex.settled = true;
    clearTimeout(ex.timer);
    ex.timer = undefined;
    this.active.delete(ex);
    // Connections torn down by close() were not closed by the peer.
    if (outcome === 'aborted' && this.closing) return;
    this.events.emit(outcome, ex.info);
  }

  private onBody(ex: Exchange, chunks: Buffer[]): void {
    if (ex.settled) return;
    if (chunks.length > 0) {
      try {
        ex.info.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        // Left undefined: respond() answers 400 for POST routes.
      }
    }
    this.remember(ex.info);
    this.events.emit('request', ex.info);
    const headers = ex.req.headers;
    if (headerFlag(headers['x-sim-hang'])) return;
    const latency = headerNumber(headers['x-sim-latency-ms'], this.options.latencyMs);
    if (latency > 0) ex.timer = setTimeout(this.respondLater, latency, ex);
    else this.respond(ex);
  }

  private remember(info: SimRequestInfo): void {
    this.requests.push(info);
    if (this.requests.length > REQUEST_LOG_SIZE) this.requests.shift();
  }

  private readonly respondLater = (ex: Exchange): void => {
    ex.timer = undefined;
    if (!ex.settled) this.respond(ex);
  };

  private respond(ex: Exchange): void {
    const { method, headers, body } = ex.info;
    const path = routePath(ex.info.path);
    const forced = headerStatus(headers['x-sim-status']);
    if (forced) return sendError(ex, forced);
    if (path.startsWith('/key/') && this.keys.handle(ex, method, path, body, this.options)) return;
    const route = this.routes.get(`${method} ${path}`);
    if (!route) {
      if (method === 'GET' && path.startsWith('/models/')) return this.model(ex, path.slice(8));
      return sendError(ex, 404, `Route not found: ${method} ${path}`);
    }
    if (!route.costBearing) return route.handle(ex, {});
    if (!p.isObject(body)) return sendError(ex, 400, 'Request body must be a JSON object.');
    if (this.options.errorRate > 0 && Math.random() < this.options.errorRate) return sendError(ex, 500);
    ex.disconnect = this.options.disconnectRate > 0 && Math.random() < this.options.disconnectRate;
    route.handle(ex, body);
  }

  private chunksFor(ex: Exchange): number {
    const chunks = Math.floor(headerNumber(ex.req.headers['x-sim-chunks'], this.options.chunks));
    return Math.min(MAX_CHUNKS, Math.max(1, chunks));
  }

  private streamCost(ex: Exchange): boolean {
    return this.options.streamUsageCost || headerFlag(ex.req.headers['x-sim-stream-cost']);
  }

  // Usage for the final stream chunk, or null when the client did not ask for it.
  private streamUsage(ex: Exchange, body: p.Json, prompt: number, completion: number): p.ChatUsage | null {
    const streamOptions = body.stream_options;
    if (!p.isObject(streamOptions) || streamOptions.include_usage !== true) return null;
    return p.chatUsage(prompt, completion, this.streamCost(ex) ? p.costOf(this.options, prompt, completion) : undefined);
  }

  private chat(ex: Exchange, body: p.Json): void {
    const model = p.modelOf(body);
    const pieces = p.replyPieces(this.chunksFor(ex));
    const prompt = p.promptTokens(body.messages);
    if (body.stream === true) return this.stream(ex, chatStream(model, pieces, this.streamUsage(ex, body, prompt, pieces.length)));
    this.sendCosted(ex, p.chatCompletion(model, pieces.join(''), p.chatUsage(prompt, pieces.length)), prompt, pieces.length);
  }

  private completion(ex: Exchange, body: p.Json): void {
    const model = p.modelOf(body);
    const pieces = p.replyPieces(this.chunksFor(ex));
    const prompt = p.promptTokens(body.prompt);
    if (body.stream === true) return this.stream(ex, completionStream(model, pieces, this.streamUsage(ex, body, prompt, pieces.length)));
    this.sendCosted(ex, p.textCompletion(model, pieces.join(''), p.chatUsage(prompt, pieces.length)), prompt, pieces.length);
  }

  private responses(ex: Exchange, body: p.Json): void {
    const model = p.modelOf(body);
    const pieces = p.replyPieces(this.chunksFor(ex));
    const prompt = p.promptTokens(body.input, body.instructions);
    const output = pieces.length;
    if (body.stream === true) {
      const cost = this.streamCost(ex) ? p.costOf(this.options, prompt, output) : undefined;
      return this.stream(ex, responsesStream(model, pieces, p.responsesUsage(prompt, output, cost)));
    }
    this.sendCosted(ex, p.completedResponse(model, pieces.join(''), p.responsesUsage(prompt, output)), prompt, output);
  }

  private embeddings(ex: Exchange, body: p.Json): void {
    const prompt = p.promptTokens(body.input);
    const inputs = p.embeddingInputs(body.input);
    this.sendCosted(ex, p.embeddings(p.modelOf(body), inputs, body.encoding_format === 'base64', prompt), prompt, 0);
  }

  private moderations(ex: Exchange, body: p.Json): void {
    const prompt = p.promptTokens(body.input);
    this.sendCosted(ex, p.moderation(p.modelOf(body), p.embeddingInputs(body.input)), prompt, 0);
  }

  private rerank(ex: Exchange, body: p.Json): void {
    const prompt = p.promptTokens(body.query, body.documents);
    this.sendCosted(ex, p.rerank(body.documents, body.top_n), prompt, 0);
  }

  private model(ex: Exchange, rawId: string): void {
    const id = decodePathSegment(rawId);
    const model = p.modelById(id);
    if (model) sendJson(ex, 200, model);
    else sendError(ex, 404, `The model '${id}' does not exist`);
  }

  private sendCosted(ex: Exchange, payload: p.Json, prompt: number, completion: number): void {
    sendJson(ex, 200, payload, p.formatCost(p.costOf(this.options, prompt, completion)));
  }

  private stream(ex: Exchange, plan: StreamPlan): void {
    startStream(ex, plan, this.options.chunkDelayMs);
  }
}

export async function startSimLiteLLM(opts: Partial<SimOptions> & { port?: number; host?: string } = {}): Promise<SimLiteLLM> {
  const { port = 0, host = '127.0.0.1', ...overrides } = opts;
  const options: SimOptions = { ...DEFAULTS };
  // Skip explicit undefineds so `{ latencyMs: undefined }` keeps the default.
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) Object.assign(options, { [key]: value });
  }
  const sim = new Simulator(options);
  await sim.listen(port, host);
  return sim;
}
