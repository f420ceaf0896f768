import { once } from 'node:events';
import http from 'node:http';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { SimRequestInfo } from '../../src/sim/litellm.js';
import { withSimAndGateway } from '../support/gateway.js';

/** A UUID of version 7 (RFC 9562): time-ordered, so the ledger's primary key grows at one edge. */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const suite = withSimAndGateway();
/** Headers of a raw request from the suite's tenant. */
const authed = (headers: Record<string, string> = {}) => ({ authorization: `Bearer ${suite.tenant.key}`, ...headers });

function lastUpstreamRequest(): SimRequestInfo {
  return suite.sim.requests.at(-1)!;
}

describe('the OpenAI SDK pointed at the gateway', () => {
  it('gets a plain chat completion exactly as the upstream wrote it', async () => {
    const client = suite.gateway.client();
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello from the simulated LiteLLM.');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-litellm-response-cost')).toMatch(/^\d+(\.\d+)?(e-\d+)?$/);
    expect(lastUpstreamRequest().body).toMatchObject({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] });
  });

  it('streams chat chunks as the upstream sends them, not all at the end', async () => {
    const client = suite.gateway.client();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream please' }], stream: true },
      { headers: { 'x-sim-chunk-delay-ms': '60', 'x-sim-chunks': '5' } },
    );
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of stream) {
      arrivals.push(performance.now());
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('Hello from the simulated LiteLLM.');
    // Six chunks paced 60 ms apart upstream: buffered, they would all land within a few ms.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(150);
  });

  it('passes the usage chunk of a stream through when the client asked for it', async () => {
    const stream = await suite.gateway.client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'count me' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const usages = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toHaveLength(1);
    expect(usages[0]!.completion_tokens).toBeGreaterThan(0);
  });

  it('gets legacy completions', async () => {
    const completion = await suite.gateway.client().completions.create({ model: 'gpt-4o-mini', prompt: 'Say hi' });
    expect(completion.choices[0]!.text).toBe('Hello from the simulated LiteLLM.');
  });

  it('gets embeddings (the SDK asks for base64 and decodes it)', async () => {
    const result = await suite.gateway.client().embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(result.data).toHaveLength(2);
    expect(result.data[0]!.embedding).toHaveLength(8);
    expect(result.data[0]!.embedding.every(Number.isFinite)).toBe(true);
  });

  it('gets a Responses API answer, plain and streamed with usage in response.completed', async () => {
    const client = suite.gateway.client();
    const plain = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hi' });
    expect(plain.output_text).toBe('Hello from the simulated LiteLLM.');

    const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hi', stream: true });
    let completedUsage: unknown;
    let text = '';
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completedUsage = event.response.usage;
    }
    expect(text).toBe('Hello from the simulated LiteLLM.');
    expect(completedUsage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
  });

  it('lists models and retrieves one', async () => {
    const client = suite.gateway.client();
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
    expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o');
  });

  it('passes an upstream 4xx through unchanged, body and status', async () => {
    const direct = await request(`${suite.sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sim-status': '400' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
    });
    const viaGateway = await request(`${suite.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authed({ 'content-type': 'application/json', 'x-sim-status': '400' }),
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
    });
    expect(viaGateway.statusCode).toBe(400);
    expect(await viaGateway.body.text()).toBe(await direct.body.text());

    const err = await suite.gateway
      .client()
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-sim-status': '429' } },
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, type: 'rate_limit_error' });
  });
});

describe('forwarding rules', () => {
  it('serves every OpenAI path without the /v1 prefix too', async () => {
    for (const path of ['/chat/completions', '/v1/chat/completions']) {
      const res = await request(`${suite.gateway.url}${path}`, {
        method: 'POST',
        headers: authed({ 'content-type': 'application/json' }),
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      expect(lastUpstreamRequest().path).toBe(path);
    }
    const models = await request(`${suite.gateway.url}/models`, { headers: authed() });
    expect(models.statusCode).toBe(200);
    expect(((await models.body.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
  });

  it('gives each request a new id, sent upstream as x-litellm-call-id and returned as x-request-id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const sent = Date.now();
      const res = await request(`${suite.gateway.url}/v1/models`, { headers: authed() });
      await res.body.dump();
      const id = res.headers['x-request-id'] as string;
      expect(id).toMatch(UUID_V7);
      const madeAt = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(madeAt).toBeGreaterThanOrEqual(sent);
      expect(madeAt).toBeLessThanOrEqual(Date.now());
      expect(lastUpstreamRequest().headers['x-litellm-call-id']).toBe(id);
      ids.add(id);
    }
    expect(ids.size).toBe(3);
  });

  it("echoes the client's x-request-id but still sends its own call id upstream", async () => {
    const res = await request(`${suite.gateway.url}/v1/models`, {
      headers: authed({ 'x-request-id': 'client-abc-123', 'x-litellm-call-id': 'spoofed' }),
    });
    await res.body.dump();
    expect(res.headers['x-request-id']).toBe('client-abc-123');
    expect(lastUpstreamRequest().headers['x-litellm-call-id']).toMatch(UUID_V7);
  });

  it('strips hop-by-hop headers and asks the upstream for identity encoding', async () => {
    // node:http sends the Connection header as written (undici's client refuses custom tokens in it).
    const res = await rawGet(`${suite.gateway.url}/v1/models`, {
      ...authed(),
      connection: 'keep-alive, x-connection-scoped',
      'x-connection-scoped': 'secret-hop',
      'proxy-authorization': 'Basic abc',
      'accept-encoding': 'gzip, br',
      'x-custom': 'kept',
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    const seen = lastUpstreamRequest().headers;
    expect(seen['x-connection-scoped']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen['accept-encoding']).toBe('identity');
    expect(seen['x-custom']).toBe('kept');
  });

  it('forwards the body bytes and the query string unchanged', async () => {
    const body = '{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"ünïcødé"}]}';
    const res = await request(`${suite.gateway.url}/v1/chat/completions?api-version=2024-01-01`, {
      method: 'POST',
      headers: authed({ 'content-type': 'application/json' }),
      body,
    });
    await res.body.dump();
    expect(lastUpstreamRequest().path).toBe('/v1/chat/completions?api-version=2024-01-01');
    expect(lastUpstreamRequest().body).toEqual(JSON.parse(body));
  });

  it('reads a body of any other content type as JSON, as LiteLLM does: a text/plain stream is still asked for its usage', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const res = await request(`${suite.gateway.url}/v1/chat/completions`, { method: 'POST', headers: authed({ 'content-type': 'text/plain' }), body });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(lastUpstreamRequest().body).toMatchObject({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true } });

    const broken = await request(`${suite.gateway.url}/v1/chat/completions`, { method: 'POST', headers: authed({ 'content-type': 'text/plain' }), body: 'model=gpt-4o' });
    expect(broken.statusCode).toBe(400);
    expect(await broken.body.json()).toMatchObject({ error: { code: 'invalid_json' } });
  });

  it('streams a non-JSON body (multipart upload) through untouched', async () => {
    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', new Blob([Buffer.alloc(64 * 1024, 7)]), 'audio.wav');
    const res = await fetch(`${suite.gateway.url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: authed() });
    // The simulator has no audio route; what matters is that the upload reached it and its 404 came back.
    expect(res.status).toBe(404);
    expect(lastUpstreamRequest().path).toBe('/v1/audio/transcriptions');
    expect(String(lastUpstreamRequest().headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
  });
});

describe('cancellation', () => {
  it('cancels the upstream request when the client aborts before the answer', async () => {
    const controller = new AbortController();
    const aborted = once(suite.sim.events, 'aborted');
    const started = once(suite.sim.events, 'request');
    const call = suite.gateway
      .client()
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hang' }] },
        { headers: { 'x-sim-hang': '1' }, signal: controller.signal },
      )
      .catch((e: unknown) => e);
    await started;
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    const [info] = (await aborted) as [SimRequestInfo];
    expect(info.path).toBe('/v1/chat/completions');
  });

  it('cancels the upstream stream when the client stops reading mid-stream', async () => {
    const aborted = once(suite.sim.events, 'aborted');
    const stream = await suite.gateway.client().chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'long' }], stream: true },
      { headers: { 'x-sim-chunk-delay-ms': '200', 'x-sim-chunks': '50' } },
    );
    for await (const _chunk of stream) break; // leaving the loop aborts the SDK's request
    await aborted;
    expect(suite.sim.inFlight()).toBe(0);
  });
});

function rawGet(url: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
}
