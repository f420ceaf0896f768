import { describe, expect, it } from 'vitest';
import { clientHeaders } from '../../src/proxy/headers.js';

/** The flat list as name → values, the way a client reads it. */
function received(list: (string | string[])[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    expect(Object.hasOwn(out, list[i] as string), `${String(list[i])} sent twice`).toBe(false);
    out[list[i] as string] = list[i + 1]!;
  }
  return out;
}

describe('clientHeaders', () => {
  const upstream = {
    'content-type': 'application/json',
    'content-length': '42',
    connection: 'keep-alive, x-hop',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'x-hop': 'one connection only',
    'x-request-id': 'upstream-id',
    'x-budget-status': 'upstream-says',
    'set-cookie': ['a=1', 'b=2'],
    constructor: 'a name objects inherit',
    'x-litellm-response-cost': '0.000052',
  };
  const own = { 'x-budget-status': 'ok', 'x-budget-remaining': '9.5' };

  it("passes the upstream's end-to-end headers, the gateway's own replacing those of the same name", () => {
    expect(received(clientHeaders(upstream, own, 'req-1', false))).toEqual({
      'content-type': 'application/json',
      'content-length': '42',
      'set-cookie': ['a=1', 'b=2'],
      constructor: 'a name objects inherit',
      'x-litellm-response-cost': '0.000052',
      'x-budget-status': 'ok',
      'x-budget-remaining': '9.5',
      'x-request-id': 'req-1',
    });
  });

  it('leaves out content-length when the gateway changes the body', () => {
    const sent = received(clientHeaders(upstream, {}, 'req-2', true));
    expect(sent['content-length']).toBeUndefined();
    expect(sent['x-budget-status']).toBe('upstream-says');
  });
});
