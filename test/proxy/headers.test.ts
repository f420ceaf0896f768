import { describe, expect, it } from 'vitest';
import { readUpstreamHead } from '../../src/proxy/headers.js';

/** Header lines as undici's core hands them over: name and value bytes, pair by pair. */
function raw(lines: readonly (readonly [string, string])[]): Buffer[] {
  return lines.flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]);
}

/** The flat list as the client reads it: name → every value, in order. */
function received(list: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    expect(name).toBe(name.toLowerCase());
    (Object.hasOwn(out, name) ? out[name]! : (out[name] = [])).push(list[i + 1]!);
  }
  return out;
}

describe('readUpstreamHead', () => {
  const upstream = raw([
    ['Content-Type', 'application/json'],
    ['content-length', '42'],
    ['Connection', 'keep-alive, X-Hop'],
    ['Keep-Alive', 'timeout=5'],
    ['transfer-encoding', 'chunked'],
    ['X-Hop', 'one connection only'],
    ['x-request-id', 'upstream-id'],
    ['X-Budget-Status', 'upstream-says'],
    ['set-cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
    ['constructor', 'a name objects inherit'],
    ['X-LiteLLM-Response-Cost', '0.000052'],
    ['x-litellm-response-cost', '0.9'],
    ['x-note', 'caf\u00e9'],
  ]);
  const own = { 'x-budget-status': 'ok', 'x-budget-remaining': '9.5' };

  it("passes the upstream's end-to-end headers line by line, the gateway's own replacing those of the same name", () => {
    const head = readUpstreamHead(upstream, own, 'req-1', false);
    expect(received(head.headers)).toEqual({
      'content-type': ['application/json'],
      'content-length': ['42'],
      'set-cookie': ['a=1', 'b=2'],
      constructor: ['a name objects inherit'],
      'x-litellm-response-cost': ['0.000052', '0.9'],
      'x-note': ['caf\u00e9'],
      'x-budget-status': ['ok'],
      'x-budget-remaining': ['9.5'],
      'x-request-id': ['req-1'],
    });
  });

  it('reads the cost (its first line), the content type and whether a length came, whatever the case of the names', () => {
    expect(readUpstreamHead(upstream, own, 'req-1', false)).toMatchObject({ costHeader: '0.000052', contentType: 'application/json', hasLength: true });
    expect(readUpstreamHead(raw([['x-other', '1']]), {}, 'req-1', false)).toMatchObject({ costHeader: undefined, contentType: undefined, hasLength: false });
  });

  it('leaves out content-length when the gateway changes the body, and still says one came', () => {
    const head = readUpstreamHead(upstream, {}, 'req-2', true);
    const sent = received(head.headers);
    expect(sent['content-length']).toBeUndefined();
    expect(sent['x-budget-status']).toEqual(['upstream-says']);
    expect(head.hasLength).toBe(true);
  });

  it('drops what any Connection line names, before or after it', () => {
    const head = readUpstreamHead(
      raw([['x-early', '1'], ['Connection', 'x-early'], ['connection', 'X-Late'], ['x-late', '2'], ['x-kept', '3']]),
      {},
      'req-3',
      false,
    );
    expect(received(head.headers)).toEqual({ 'x-kept': ['3'], 'x-request-id': ['req-3'] });
  });
});
