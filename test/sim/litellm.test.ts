import { once } from 'node:events';
import OpenAI, { APIUserAbortError, BadRequestError, InternalServerError, NotFoundError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SimLiteLLM, type SimRequestInfo, startSimLiteLLM } from '../../src/sim/litellm.js';

const REPLY = 'Hello from the simulated LiteLLM.';
let sim: SimLiteLLM;
let client: OpenAI;
let defaults: SimLiteLLM['options'];

beforeAll(async () => {
  sim = await startSimLiteLLM();
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${sim.url}/v1`, maxRetries: 0 });
  defaults = { ...sim.options };
});

afterAll(async () => {
  await sim.close();
});

afterEach(() => {
  Object.assign(sim.options, defaults);
});

describe('chat completions', () => {
  it('answers a plain request with usage and a cost header', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello there friend' }] })
      .withResponse();

    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.model).toBe('gpt-4o');
    expect(data.choices[0]?.message).toMatchObject({ role: 'assistant', content: REPLY });
    expect(data.choices[0]?.finish_reason).toBe('stop');
    // 18 characters -> ceil(18 / 4) = 5 prompt tokens; 5 chunks -> 5 completion tokens.
    expect(data.usage).toEqual({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
    expect(response.headers.get('x-litellm-response-cost')).toBe('0.000015');
    expect(sim.requests.at(-1)?.body).toMatchObject({ model: 'gpt-4o' });
  });

  it('streams without a usage chunk unless include_usage is set', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(REPLY);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('ends the stream with a usage chunk when include_usage is set, with cost on request', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-sim-stream-cost': '1' } },
    );
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 });
    expect((last?.usage as { cost?: number }).cost).toBeCloseTo(0.000011, 12);
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
  });

  it('spreads chunks over time with chunkDelayMs', async () => {
    sim.options.chunkDelayMs = 20;
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const arrivals: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrivals.push(performance.now());

    expect(arrivals).toHaveLength(5);
    expect((arrivals.at(-1) as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(4 * 20 * 0.5);
  });

  it('makes the stream iteration throw when told to disconnect after N chunks', async () => {
    const disconnected = once(sim.events, 'disconnected');
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-sim-disconnect-after-chunks': '2' } },
    );
    const received: string[] = [];
    await expect(async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    }).rejects.toThrow();
    await disconnected;

    expect(received.join('')).toBe('Hello from');
    expect(sim.inFlight()).toBe(0);
  });

  it("emits 'aborted' when the client gives up on a hanging request", async () => {
    const requested = once(sim.events, 'request');
    const aborted = once(sim.events, 'aborted');
    const controller = new AbortController();
    const pending = client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-sim-hang': '1' }, signal: controller.signal },
    );
    await requested;
    expect(sim.inFlight()).toBe(1);
    controller.abort();

    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    const [info] = (await aborted) as [SimRequestInfo];
    expect(info.path).toBe('/v1/chat/completions');
    expect(sim.inFlight()).toBe(0);
  });
});

describe('other cost-bearing routes', () => {
  it('answers legacy completions, plain and streamed with usage', async () => {
    const plain = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say hi' });
    expect(plain.object).toBe('text_completion');
    expect(plain.choices[0]?.text).toBe(REPLY);

    const stream = await client.completions.create({
      model: 'gpt-4o-mini', prompt: 'Say hi', stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(REPLY);
    expect(usage).toEqual({ prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
  });

  it('returns 8-dimensional embeddings the SDK decodes from base64 by default', async () => {
    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    expect(sim.requests.at(-1)?.body).toMatchObject({ encoding_format: 'base64' });
    expect(decoded.data).toHaveLength(2);
    expect(decoded.data[0]?.embedding).toHaveLength(8);

    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], encoding_format: 'float' });
    expect(floats.data[1]?.embedding).toEqual(decoded.data[1]?.embedding);
  });

  it('answers the Responses API with output text and usage', async () => {
    const { data, response } = await client.responses
      .create({ model: 'gpt-4o', input: [{ role: 'user', content: 'Hello there friend' }] })
      .withResponse();

    expect(data.id).toMatch(/^resp_/);
    expect(data.output_text).toBe(REPLY);
    expect(data.usage).toMatchObject({ input_tokens: 5, output_tokens: 5, total_tokens: 10 });
    expect(response.headers.get('x-litellm-response-cost')).toBe('0.000015');
  });

  it('streams Responses API events ending in response.completed with usage', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'Hi', stream: true });
    const events = [];
    for await (const event of stream) events.push(event);

    const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
    expect(deltas.join('')).toBe(REPLY);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const completed = events.at(-1);
    expect(completed?.type).toBe('response.completed');
    if (completed?.type !== 'response.completed') return;
    expect(completed.response.usage).toMatchObject({ input_tokens: 1, output_tokens: 5, total_tokens: 6 });

    const final = await client.responses.stream({ model: 'gpt-4o', input: 'Hi' }).finalResponse();
    expect(final.output_text).toBe(REPLY);
  });
});

describe('errors', () => {
  it('answers x-sim-status with an OpenAI error and no cost header', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }, { headers: { 'x-sim-status': '400' } })
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).status).toBe(400);
    expect((error as BadRequestError).headers.get('x-litellm-response-cost')).toBeNull();
    expect((error as BadRequestError).type).toBe('invalid_request_error');
  });

  it('fails cost-bearing requests with 500 when errorRate is 1, but still lists models', async () => {
    sim.options.errorRate = 1;
    await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }))
      .rejects.toBeInstanceOf(InternalServerError);
    await expect(client.models.list()).resolves.toBeDefined();
  });

  it('rejects malformed JSON with 400 and unknown paths with 404', async () => {
    const malformed = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { type: 'invalid_request_error' } });

    const unknown = await fetch(`${sim.url}/v1/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'not_found' } });
  });
});

describe('metadata routes', () => {
  it('lists and retrieves models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']);
    await expect(client.models.retrieve('gpt-4o')).resolves.toMatchObject({ id: 'gpt-4o', owned_by: 'litellm' });
    await expect(client.models.retrieve('no-such-model')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('serves LiteLLM model/info with the configured prices, and liveliness', async () => {
    sim.options.inputCostPerToken = 0.000003;
    const info = (await (await fetch(`${sim.url}/model/info`)).json()) as { data: unknown[] };
    expect(info.data).toHaveLength(3);
    expect(info.data[0]).toEqual({
      model_name: 'gpt-4o-mini',
      litellm_params: { model: 'openai/gpt-4o-mini' },
      model_info: { input_cost_per_token: 0.000003, output_cost_per_token: 0.000002 },
    });

    const alive = await fetch(`${sim.url}/health/liveliness`);
    expect(alive.status).toBe(200);
    expect(await alive.json()).toBe("I'm alive!");
  });
});

describe('lifecycle', () => {
  it('cuts non-streamed bodies halfway when disconnectRate is 1', async () => {
    sim.options.disconnectRate = 1;
    const disconnected = once(sim.events, 'disconnected');
    await expect(client.embeddings.create({ model: 'text-embedding-3-small', input: 'Hi' })).rejects.toThrow();
    await disconnected;
    expect(sim.inFlight()).toBe(0);
  });

  it('keeps only the last 100 requests', async () => {
    for (let i = 0; i < 105; i++) await fetch(`${sim.url}/health/liveliness?i=${i}`).then((res) => res.arrayBuffer());
    expect(sim.requests).toHaveLength(100);
    expect(sim.requests.at(-1)?.path).toBe('/health/liveliness?i=104');
  });

  it('close() ends hanging and delayed requests and leaves no timers behind', async () => {
    const other = await startSimLiteLLM();
    const requested = new Promise<void>((resolve) => {
      let seen = 0;
      other.events.on('request', () => ++seen === 2 && resolve());
    });
    // Settled right away: both reject while close() is still being awaited.
    const outcome = (headers: Record<string, string>): Promise<unknown> =>
      fetch(`${other.url}/v1/models`, { headers }).then(() => 'answered', (err: unknown) => err);
    const delayed = outcome({ 'x-sim-latency-ms': '60000' });
    const hanging = outcome({ 'x-sim-hang': '1' });
    await requested;
    expect(other.inFlight()).toBe(2);
    expect(other.pendingTimers()).toBe(1); // the delayed answer's latency timer

    await other.close();
    expect(await delayed).toBeInstanceOf(TypeError);
    expect(await hanging).toBeInstanceOf(TypeError);
    expect(other.inFlight()).toBe(0);
    expect(other.pendingTimers()).toBe(0);
  });
});

describe('key management routes', () => {
  const post = (path: string, body: unknown, key = sim.options.masterKey) =>
    fetch(`${sim.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('update a virtual key found by its plain key or its SHA-256 hash, for the master key only', async () => {
    const key = sim.keys.add('sk-sim-virtual-1', 4);
    expect((await post('/key/update', { key: key.token, spend: 0 }, 'sk-not-master')).status).toBe(401);
    expect((await post('/key/update', { key: 'sk-sim-virtual-1', temp_budget_increase: 5 })).status).toBe(422);
    expect((await post('/key/update', { key: 'sk-sim-virtual-1', temp_budget_increase: 5, temp_budget_expiry: '2026-01-01T00:00:00' })).status).toBe(200);
    expect((await post(`/key/${key.token}/reset_spend`, { reset_to: 0 })).status).toBe(200);
    expect(key).toMatchObject({ spend: 0, metadata: { temp_budget_increase: 5, temp_budget_expiry: '2026-01-01T00:00:00' } });
    expect((await post('/key/update', { key: 'f'.repeat(64), spend: 0 })).status).toBe(404);
  });

  it('answer as told: an outage status, or the 404 of a LiteLLM without reset_spend', async () => {
    const key = sim.keys.add('sk-sim-virtual-2', 4);
    sim.options.keyApiStatus = 503;
    expect((await post('/key/update', { key: key.token, spend: 0 })).status).toBe(503);
    sim.options.keyApiStatus = 0;
    sim.options.keyResetRoute = false;
    const old = await post(`/key/${key.token}/reset_spend`, { reset_to: 0 });
    expect([old.status, await old.json()]).toEqual([404, { detail: 'Not Found' }]);
    expect(key.spend).toBe(4);
  });
});
