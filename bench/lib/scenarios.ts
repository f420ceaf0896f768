// The scenarios of one repetition, and the exact request each target gets in each. Every target
// gets the same method, path, body and simulator instructions (x-sim-*); Portkey additionally gets
// the headers that make it forward to the simulator as the OpenAI provider.

import type { RequestShape } from './load.js';
import type { Options, ScenarioGroup } from './options.js';
import { portkeyHeaders } from './portkey.js';
import { ENFORCING, type Target } from './targets.js';

export interface Scenario {
  /** Short id used in rows and tables: c1, c16, c64, rate500, stream, body1mb, tenants10000. */
  id: string;
  group: ScenarioGroup;
  title: string;
  /** Closed loop: requests in flight. Open loop: undefined. */
  concurrency?: number;
  /** Open loop: offered requests per second. */
  ratePerS?: number;
  targets: readonly Target[];
  body: string;
  /** x-sim-* request headers (forwarded by Portkey only when named in x-portkey-forward-headers). */
  simHeaders: Record<string, string>;
  streamPieces?: number;
  /** Spread the requests over the extra keys, one tenant each. */
  manyKeys: boolean;
}

export const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 };

/** A chat request whose body is exactly `bytes` long (the user message is padded with text). */
export function chatOfSize(bytes: number): string {
  const empty = JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: '' }] });
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit '.repeat(Math.ceil(bytes / 56) + 1);
  return JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: words.slice(0, Math.max(0, bytes - empty.length)) }] });
}

export function scenarios(o: Options, available: readonly Target[]): Scenario[] {
  const all = (ts: readonly Target[] = available): Target[] => available.filter((t) => ts.includes(t));
  // The bare Node proxy is a reference for the headline's scenarios only (concurrency, stream).
  const products = (): Target[] => available.filter((t) => t !== 'bare');
  const small = JSON.stringify(CHAT);
  const out: Scenario[] = [];
  const want = (g: ScenarioGroup): boolean => o.scenarios.includes(g);
  if (want('concurrency')) {
    for (const c of o.concurrency) {
      out.push({ id: `c${c}`, group: 'concurrency', title: `chat, concurrency ${c}`, concurrency: c, targets: all(), body: small, simHeaders: {}, manyKeys: false });
    }
  }
  if (want('rate')) {
    out.push({ id: `rate${o.ratePerS}`, group: 'rate', title: `chat, offered ${o.ratePerS} req/s`, ratePerS: o.ratePerS, targets: products(), body: small, simHeaders: {}, manyKeys: false });
  }
  if (want('stream')) {
    out.push({
      id: 'stream',
      group: 'stream',
      title: `streamed chat, concurrency ${o.streamConcurrency}, ${o.streamChunks} chunks ${o.streamChunkDelayMs} ms apart`,
      concurrency: o.streamConcurrency,
      targets: all(),
      body: JSON.stringify({ ...CHAT, stream: true }),
      simHeaders: { 'x-sim-chunks': String(o.streamChunks), 'x-sim-chunk-delay-ms': String(o.streamChunkDelayMs) },
      streamPieces: o.streamChunks,
      manyKeys: false,
    });
  }
  if (want('body')) {
    const size = o.bodyBytes % (1024 * 1024) === 0 ? `${o.bodyBytes / 1024 / 1024}mb` : `${o.bodyBytes}b`;
    out.push({ id: `body${size}`, group: 'body', title: `chat with a ${size.toUpperCase()} body, concurrency ${o.bodyConcurrency}`, concurrency: o.bodyConcurrency, targets: products(), body: chatOfSize(o.bodyBytes), simHeaders: {}, manyKeys: false });
  }
  if (want('tenants')) {
    // Keys matter only to the enforcing targets; direct is the baseline.
    out.push({
      id: `tenants${o.tenants}`,
      group: 'tenants',
      title: `chat spread over ${o.tenants} keys (one tenant each), concurrency ${o.tenantsConcurrency}`,
      concurrency: o.tenantsConcurrency,
      targets: all(['direct', ...ENFORCING]),
      body: small,
      simHeaders: {},
      manyKeys: true,
    });
  }
  return out;
}

export interface RequestContext {
  apiKey: string;
  extraKeys: readonly string[];
  simUrl: string;
}

/** The request `target` gets in `scenario`. */
export function requestFor(scenario: Scenario, target: Target, ctx: RequestContext): RequestShape {
  const base: Record<string, string> = {
    'content-type': 'application/json',
    ...scenario.simHeaders,
    ...(target === 'portkey' ? portkeyHeaders(ctx.simUrl, Object.keys(scenario.simHeaders)) : {}),
  };
  const shape = { path: '/v1/chat/completions', body: scenario.body, ...(scenario.streamPieces === undefined ? {} : { streamPieces: scenario.streamPieces }) };
  if (!scenario.manyKeys || ctx.extraKeys.length === 0) return { ...shape, headers: { ...base, authorization: `Bearer ${ctx.apiKey}` } };
  // Built once: the generator should not spend its time formatting headers.
  const perKey = ctx.extraKeys.map((key) => ({ ...base, authorization: `Bearer ${key}` }));
  return { ...shape, headers: (i: number) => perKey[i % perKey.length]! };
}
