import { describe, expect, it } from 'vitest';
import { createUsageTap, type UsageTap } from '../../src/proxy/usage-tap.js';

const sse = (...payloads: unknown[]) => payloads.map((p) => `data: ${typeof p === 'string' ? p : JSON.stringify(p)}\n\n`).join('');
const delta = (content: string) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }], usage: null });
const usageChunk = { object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, cost: 0.00003 } };

/** Feeds `text` split at every given offset; returns what the client would receive. */
function feed(tap: UsageTap, text: string, cuts: number[] = []): string {
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    const sent = tap.write(bytes.subarray(from, cut));
    if (sent) out.push(sent);
    from = cut;
  }
  const rest = tap.end();
  if (rest) out.push(rest);
  return Buffer.concat(out).toString();
}

describe('usage tap on a JSON answer', () => {
  it('reads usage from the tail and passes every chunk through untouched', () => {
    const body = JSON.stringify({ id: 'x', choices: [{ message: { content: 'hi "usage": {' } }], usage: { prompt_tokens: 3, completion_tokens: 7 } });
    const tap = createUsageTap('application/json', { stripUsageEvent: false });
    expect(feed(tap, body, [5, 20, 40])).toBe(body);
    expect(tap.usage).toEqual({ promptTokens: 3, completionTokens: 7, costUsd: undefined });
  });

  it('reads Responses and embeddings usage (input/output tokens; no completion tokens)', () => {
    const tap = createUsageTap('application/json', { stripUsageEvent: false });
    feed(tap, JSON.stringify({ object: 'list', data: [{ embedding: new Array(3000).fill(0.5) }], usage: { prompt_tokens: 9, total_tokens: 9 } }));
    expect(tap.usage).toEqual({ promptTokens: 9, completionTokens: 0, costUsd: undefined });
    const responses = createUsageTap('application/json; charset=utf-8', { stripUsageEvent: false });
    feed(responses, JSON.stringify({ object: 'response', usage: { input_tokens: 4, output_tokens: 6, total_tokens: 10 } }));
    expect(responses.usage).toEqual({ promptTokens: 4, completionTokens: 6, costUsd: undefined });
  });

  it('reads usage at the end of a large answer that arrives in many small chunks', () => {
    const body = JSON.stringify({ object: 'list', data: [{ embedding: new Array(5000).fill(0.25) }], usage: { prompt_tokens: 42, total_tokens: 42 } });
    const cuts = Array.from({ length: Math.floor(body.length / 97) }, (_, i) => (i + 1) * 97);
    const tap = createUsageTap('application/json', { stripUsageEvent: false });
    expect(feed(tap, body, cuts)).toBe(body);
    expect(tap.usage).toEqual({ promptTokens: 42, completionTokens: 0, costUsd: undefined });
  });

  it('reads usage with braces in its strings, and with an escaped key (left to JSON.parse)', () => {
    const braces = createUsageTap('application/json', { stripUsageEvent: false });
    feed(braces, '{"id":"x","usage":{"note":"} {\\"}","prompt_tokens":5,"completion_tokens":6,"details":{"a":[{}]}}}');
    expect(braces.usage).toEqual({ promptTokens: 5, completionTokens: 6, costUsd: undefined });
    const escaped = createUsageTap('application/json', { stripUsageEvent: false });
    feed(escaped, '{"id":"x","usage":{"prompt\\u005ftokens":7,"completion_tokens":8,"cost":0.5}}');
    expect(escaped.usage).toEqual({ promptTokens: 7, completionTokens: 8, costUsd: 0.5 });
  });

  it('finds nothing in an answer without usage, or a broken one', () => {
    for (const body of ['{"error":{"message":"bad"}}', '{"usage": {"prompt_tokens": 1', 'not json at all']) {
      const tap = createUsageTap('application/json', { stripUsageEvent: false });
      feed(tap, body);
      expect(tap.usage).toBeUndefined();
    }
  });
});

describe('usage tap on a server-sent stream', () => {
  const stream = sse(delta('Hel'), delta('lo'), usageChunk, '[DONE]');

  it('passes the stream through byte for byte when the client asked for usage, and reads it', () => {
    const tap = createUsageTap('text/event-stream', { stripUsageEvent: false });
    expect(feed(tap, stream, [7, 50, 120, 121, 200])).toBe(stream);
    expect(tap.usage).toEqual({ promptTokens: 12, completionTokens: 5, costUsd: 0.00003 });
  });

  it('removes the usage-only event when the gateway asked for it, wherever the chunks are cut', () => {
    const expected = sse(delta('Hel'), delta('lo'), '[DONE]');
    for (const cuts of [[], [1], [30, 31, 32], [stream.indexOf('"usage":{') + 3], [stream.length - 3]]) {
      const tap = createUsageTap('text/event-stream', { stripUsageEvent: true });
      expect(feed(tap, stream, cuts)).toBe(expected);
      expect(tap.usage?.promptTokens).toBe(12);
    }
  });

  it('forwards each complete event as soon as it is complete', () => {
    const tap = createUsageTap('text/event-stream', { stripUsageEvent: true });
    const first = sse(delta('a'));
    expect(tap.write(Buffer.from(first.slice(0, 10)))).toBeUndefined();
    expect(tap.write(Buffer.from(first.slice(10)))?.toString()).toBe(first);
  });

  it('keeps a final chunk that carries content and usage together', () => {
    const both = { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: '!' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } };
    const tap = createUsageTap('text/event-stream', { stripUsageEvent: true });
    expect(feed(tap, sse(both, '[DONE]'))).toBe(sse(both, '[DONE]'));
    expect(tap.usage?.completionTokens).toBe(1);
  });

  it('reads usage from the Responses API response.completed event', () => {
    const events =
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n' +
      'event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":8,"output_tokens":2}}}\n\n';
    const tap = createUsageTap('text/event-stream; charset=utf-8', { stripUsageEvent: false });
    expect(feed(tap, events, [40])).toBe(events);
    expect(tap.usage).toEqual({ promptTokens: 8, completionTokens: 2, costUsd: undefined });
  });

  it('understands CRLF event separators', () => {
    const crlf = `data: ${JSON.stringify(delta('x'))}\r\n\r\ndata: ${JSON.stringify(usageChunk)}\r\n\r\ndata: [DONE]\r\n\r\n`;
    const tap = createUsageTap('text/event-stream', { stripUsageEvent: true });
    expect(feed(tap, crlf, [10])).toBe(`data: ${JSON.stringify(delta('x'))}\n\ndata: [DONE]\n\n`);
    expect(tap.usage?.completionTokens).toBe(5);
  });
});
