import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { chatCalls, closedPort, startTestGateway, type TestGateway } from '../support/gateway.js';

/** CONTRACT section 5: every error body has exactly this shape. */
function expectContractError(body: unknown, type: string, code: string): void {
  expect(body).toEqual({ error: { message: expect.any(String), type, param: null, code } });
  expect((body as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
}

/** The key of a tenant on the gateway under test (each suite makes its own). */
let key = '';

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as unknown };
}

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('errors the gateway itself produces', () => {
  let sim: SimLiteLLM;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, MAX_BODY_BYTES: '2048', UPSTREAM_HEADERS_TIMEOUT_MS: '300' });
    ({ key } = await gateway.createTenant());
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  it('answers malformed JSON with 400 invalid_json and never calls the upstream', async () => {
    const before = chatCalls(sim);
    const res = await post(`${gateway.url}/v1/chat/completions`, '{"model": "gpt-4o-mini", ', { 'x-request-id': 'bad-json-1' });
    expect(res.status).toBe(400);
    expectContractError(res.body, 'invalid_request_error', 'invalid_json');
    expect(res.headers['x-request-id']).toBe('bad-json-1');
    expect(chatCalls(sim)).toBe(before);
  });

  it('answers a body over the limit with 413 request_too_large, declared or chunked', async () => {
    const declared = await post(`${gateway.url}/v1/embeddings`, Buffer.alloc(4096, 0x20));
    expect(declared.status).toBe(413);
    expectContractError(declared.body, 'invalid_request_error', 'request_too_large');

    // No content-length: the limit is enforced while reading.
    const chunks = Readable.from(Array.from({ length: 8 }, () => Buffer.alloc(512, 0x20)));
    const chunked = await request(`${gateway.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: chunks,
    });
    expect(chunked.statusCode).toBe(413);
    expectContractError(await chunked.body.json(), 'invalid_request_error', 'request_too_large');
  });

  it('answers 413 for an upload streamed past the limit, even once forwarding has begun', async () => {
    const upload = Readable.from(Array.from({ length: 8 }, () => Buffer.alloc(512, 0x61)));
    const res = await request(`${gateway.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'multipart/form-data; boundary=x' },
      body: upload,
    });
    expect(res.statusCode).toBe(413);
    expectContractError(await res.body.json(), 'invalid_request_error', 'request_too_large');
  });

  it('answers an unknown path with 404 not_found', async () => {
    for (const path of ['/v1/nope', '/v2/chat/completions', '/v1/admin/tenants']) {
      const res = await request(`${gateway.url}${path}`);
      expect(res.statusCode, path).toBe(404);
      expectContractError(await res.body.json(), 'invalid_request_error', 'not_found');
    }
  });

  it('never lets a path trick into the admin API: a dot-segment path is the admin path, and needs the admin key', async () => {
    for (const path of ['/v1/../admin/tenants', '/v1/chat/../../admin/tenants', '/admin', '/admin/tenants']) {
      const res = await request(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.statusCode, path).toBe(401);
      expectContractError(await res.body.json(), 'authentication_error', 'invalid_api_key');
    }
  });

  it('answers 504 upstream_timeout when the upstream sends no headers in time', async () => {
    const res = await post(`${gateway.url}/v1/chat/completions`, chat, { 'x-sim-hang': '1' });
    expect(res.status).toBe(504);
    expectContractError(res.body, 'upstream_error', 'upstream_timeout');
    // Admitted before it failed: the answer still says where the budget stands.
    expect(res.headers).toMatchObject({ 'x-budget-limit': '100', 'x-budget-status': 'ok' });
  });

  it('cuts the connection when the upstream dies mid-stream, so the client sees an error not a short answer', async () => {
    const stream = await gateway.client({ apiKey: key }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true },
      { headers: { 'x-sim-disconnect-after-chunks': '2' } },
    );
    const consume = async () => {
      for await (const _chunk of stream);
    };
    await expect(consume()).rejects.toThrow();
  });
});

describe('an unreachable upstream', () => {
  it('answers 502 upstream_unreachable', async () => {
    const gateway = await startTestGateway({ LITELLM_BASE_URL: `http://127.0.0.1:${await closedPort()}` });
    ({ key } = await gateway.createTenant());
    try {
      const res = await post(`${gateway.url}/v1/chat/completions`, chat);
      expect(res.status).toBe(502);
      expectContractError(res.body, 'upstream_error', 'upstream_unreachable');
      expect(res.headers['x-request-id']).toBeDefined();
      expect(res.headers).toMatchObject({ 'x-budget-limit': '100', 'x-budget-spend': '0', 'x-budget-status': 'ok' });
    } finally {
      await gateway.shutdown();
    }
  });
});

