import fc from 'fast-check';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { TEST_ADMIN_KEY, withSimAndGateway } from '../support/gateway.js';
import { httpRequest, rawRequest, type RawAnswer } from './support/raw-http.js';

/**
 * Malformed requests, as a careless or hostile client sends them, to the proxy and the admin
 * API: each must end in a 4xx with the contract's error body (CONTRACT section 5), none in a 5xx
 * or a dropped connection, none with admin access, and the gateway must go on serving.
 */

const MAX_BODY_BYTES = 64 * 1024;
const suite = withSimAndGateway({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
const port = () => new URL(suite.gateway.url).port;
const proxyAuth = (): [string, string] => ['authorization', `Bearer ${suite.tenant.key}`];
const json: [string, string] = ['content-type', 'application/json'];
const chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}';

function expectContractRefusal(answer: RawAnswer): void {
  expect(answer.status, answer.body).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.body).toBeLessThan(500);
  // `toMatchObject`: a 422 adds `details` to the same shape.
  expect(JSON.parse(answer.body)).toMatchObject({
    error: { message: expect.any(String), type: expect.any(String), param: null, code: expect.any(String) },
  });
}

/** Valid but absurd input is the upstream's to judge; the gateway itself must not fail on it. */
function expectNoServerError(answer: RawAnswer): void {
  expect(answer.status, answer.body).toBeLessThan(500);
  if (answer.status >= 400) expectContractRefusal(answer);
}

const deepJson = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

type Case = readonly [name: string, bytes: () => Buffer, status?: number];

const cases: Case[] = [
  ['broken JSON to the proxy', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json], '{"model": "gpt-4o-mini", "messages": ['), 400],
  ['broken JSON without a key', () => httpRequest('POST', '/v1/chat/completions', [json], '{"model'), 401],
  ['a body over the limit', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json], `{"x":"${'a'.repeat(MAX_BODY_BYTES)}"}`), 413],
  ['a chunked body over the limit', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json, ['transfer-encoding', 'chunked']], chunked('a'.repeat(MAX_BODY_BYTES + 10))), 413],
  ['objects nested 5,000 deep to the admin API', () => httpRequest('PUT', '/admin/tenants/deep', [['authorization', `Bearer ${TEST_ADMIN_KEY}`], json], deepObject(5_000)), 422],
  ['wrong types to the admin API', () => httpRequest('PUT', '/admin/tenants/typed', [['authorization', `Bearer ${TEST_ADMIN_KEY}`], json], '{"max_budget":"lots","grace_threshold":[],"budget_duration":7}'), 422],
  ['broken JSON to the admin API', () => httpRequest('PUT', '/admin/tenants/broken', [['authorization', `Bearer ${TEST_ADMIN_KEY}`], json], '{"max_budget":'), 400],
  ['an admin body over its limit', () => httpRequest('PUT', '/admin/tenants/huge', [['authorization', `Bearer ${TEST_ADMIN_KEY}`], json], `{"name":"${'n'.repeat(70_000)}"}`), 413],
  ['invalid UTF-8 in a JSON body', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json], Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0xc3, 0x28, 0x7d])), 400],
  ['invalid UTF-8 percent-encoded in an admin path', () => httpRequest('GET', '/admin/tenants/%FF%FE', [['authorization', `Bearer ${TEST_ADMIN_KEY}`]])],
  ['invalid UTF-8 in the API key', () => httpRequest('POST', '/v1/chat/completions', [['authorization', 'Bearer \xff\xfe\xfd'], json], chat), 401],
  ['a key header with a NUL byte', () => httpRequest('POST', '/v1/chat/completions', [['authorization', 'Bearer sk-\x00abc'], json], chat), 400],
  ['a CR injected into a header value', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json, ['x-request-id', 'a\rx-injected: 1']], chat), 400],
  ['two content-length headers that disagree', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json, ['content-length', '2'], ['content-length', '5']], '{}'), 400],
  ['content-length and transfer-encoding together', () => httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json, ['content-length', '2'], ['transfer-encoding', 'chunked']], '0\r\n\r\n'), 400],
  ['an oversized header', () => httpRequest('GET', '/v1/models', [proxyAuth(), ['x-padding', 'p'.repeat(20_000)]]), 431],
  ['ten thousand headers', () => httpRequest('GET', '/v1/models', [proxyAuth(), ...Array.from({ length: 10_000 }, (_, i): [string, string] => [`x-h${i}`, 'v'])]), 431],
  ['a request line that is not HTTP', () => Buffer.from('HELLO\r\n\r\n'), 400],
];

describe('malformed requests end in a contract 4xx', () => {
  it.each(cases.map(([name, bytes, status]) => ({ name, bytes, status })))('$name', async ({ bytes, status }) => {
    const answer = await rawRequest(Number(port()), [bytes()]);
    expectContractRefusal(answer);
    if (status !== undefined) expect(answer.status).toBe(status);
  });
});

describe('absurd but well-formed bodies never fail the gateway', () => {
  it.each([
    ['arrays nested 30,000 deep', deepJson(30_000)],
    ['objects nested 10,000 deep', deepObject(10_000)],
    ['messages of the wrong types', '{"model":5,"messages":"hi","max_tokens":"many","stream":"yes","stream_options":7}'],
    ['a model name of 10,000 characters', `{"model":"${'m'.repeat(10_000)}","messages":[]}`],
    ['a max_tokens past any budget', '{"model":"gpt-4o-mini","messages":[],"max_tokens":1e308}'],
  ])('%s', async (_name, body) => {
    expectNoServerError(await rawRequest(Number(port()), [httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json], body)]));
  });
});

describe('path tricks never reach the admin API or the upstream', () => {
  const paths = [
    '/v1/../admin/tenants',
    '/v1/%2e%2e/admin/tenants',
    '/admin/../admin/tenants',
    '//admin/tenants',
    '/ADMIN/tenants',
    '/admin%2ftenants',
    '/admin/tenants/..%2f..%2fv1%2fmodels',
    '/v1/images/../../key/update',
    '/v1/audio/..%2f..%2fkey%2fupdate',
    '/v1/responses/%2e%2e/%2e%2e/admin/tenants',
  ];

  it.each(paths)('%s with a tenant key (not the admin key) is refused', async (path) => {
    const seen = suite.sim.requests.length;
    const answer = await rawRequest(Number(port()), [httpRequest('POST', path, [proxyAuth(), json], '{"max_budget":1000000}')]);
    expectContractRefusal(answer);
    // Nothing past the gateway: a dot segment must not carry a tenant's request to another upstream route.
    expect(suite.sim.requests.slice(seen).map((r) => r.path)).toEqual([]);
  });
});

describe('fuzzed bodies and paths', () => {
  it('admin routes answer every arbitrary JSON body with a 2xx or a contract 4xx, never a 5xx', async () => {
    const admin = ['PUT /admin/tenants/fuzz-tenant', 'POST /admin/tenants/fuzz-tenant/budget-override', 'POST /admin/tenants/fuzz-tenant/keys', 'PUT /admin/budgets/global'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...admin), fc.jsonValue({ maxDepth: 4 }), async (route, value) => {
        const [method, path] = route.split(' ') as [string, string];
        const answer = await rawRequest(Number(port()), [httpRequest(method, path, [['authorization', `Bearer ${TEST_ADMIN_KEY}`], json], JSON.stringify(value))]);
        expectNoServerError(answer);
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary bytes as a proxy body end in a contract 4xx unless they are JSON, which never fails the gateway', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (body) => {
        const answer = await rawRequest(Number(port()), [httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json], Buffer.from(body))]);
        if (isJson(body)) expectNoServerError(answer);
        else expectContractRefusal(answer);
      }),
      { numRuns: 150 },
    );
  });

  it('arbitrary paths under /admin without the admin key are refused (400, 401 or 404)', async () => {
    const segment = fc.string({ unit: fc.constantFrom('a', '.', '/', '%', '2', 'e', 'f', 'F', '\\', ';', '?', '#', '~'), maxLength: 24 });
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom('', 'Bearer wrong', `Bearer ${TEST_ADMIN_KEY.slice(0, -1)}`), async (tail, authorization) => {
        const headers: [string, string][] = authorization === '' ? [] : [['authorization', authorization]];
        const answer = await rawRequest(Number(port()), [httpRequest('GET', `/admin/${tail}`, headers)]);
        expect([400, 401, 404]).toContain(answer.status);
        expectContractRefusal(answer);
      }),
      { numRuns: 150 },
    );
  });
});

describe('slow clients', () => {
  it('a body trickling in byte by byte is still read and judged (here: broken JSON, 400)', async () => {
    const head = httpRequest('POST', '/v1/chat/completions', [proxyAuth(), json, ['content-length', '12']]);
    const body = [...'{"model": 1,'].map((ch) => Buffer.from(ch));
    const answer = await rawRequest(Number(port()), [head, ...body], { gapMs: 50 });
    expectContractRefusal(answer);
    expect(answer.status).toBe(400);
  });

  it('keeps serving others while 200 connections hold half-sent requests open', async () => {
    const { connect } = await import('node:net');
    const stalled = Array.from({ length: 200 }, () => {
      const socket = connect({ host: '127.0.0.1', port: Number(port()) });
      socket.on('error', () => {});
      socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"mo');
      return socket;
    });
    try {
      const res = await request(`${suite.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${suite.tenant.key}`, 'content-type': 'application/json' },
        body: chat,
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  });
});

describe('after all of it', () => {
  it('the gateway is alive and serving', async () => {
    const res = await request(`${suite.gateway.url}/healthz`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });
});

function chunked(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
}

function isJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(Buffer.from(bytes).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
