import { execFileSync, spawnSync } from 'node:child_process';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { sample, withSimAndGateway } from '../support/gateway.js';

const suite = withSimAndGateway();

async function call(method: string, path: string, body?: string): Promise<number> {
  const res = await request(`${suite.gateway.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${suite.tenant.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  await res.body.dump();
  return res.statusCode;
}

describe('/healthz and /readyz', () => {
  it('answers 200 while serving and ready', async () => {
    const health = await request(`${suite.gateway.url}/healthz`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toEqual({ status: 'ok' });
    const ready = await request(`${suite.gateway.url}/readyz`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toEqual({ status: 'ready' });
  });
});

describe('/metrics', () => {
  const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

  it('labels routes by template: both path spellings count as one route, raw paths never appear', async () => {
    expect(await call('POST', '/v1/chat/completions', chat)).toBe(200);
    expect(await call('POST', '/chat/completions', chat)).toBe(200);
    expect(await call('GET', '/v1/models/gpt-4o')).toBe(200);
    expect(await call('GET', '/v1/no-such-thing/12345')).toBe(404);

    const text = await suite.gateway.metrics();
    expect(sample(text, 'budget_gateway_requests_total{route="/v1/chat/completions",method="POST",status="200"}')).toBe(2);
    expect(sample(text, 'budget_gateway_requests_total{route="/v1/models/*",method="GET",status="200"}')).toBe(1);
    expect(sample(text, 'budget_gateway_requests_total{route="unmatched",method="GET",status="404"}')).toBe(1);
    expect(text).not.toMatch(/route="[^"]*(gpt-4o|12345|no-such-thing)/);
  });

  it('records request duration, upstream duration and the gateway overhead of proxied requests', async () => {
    const before = await suite.gateway.metrics();
    expect(await call('POST', '/v1/chat/completions', chat)).toBe(200);
    const after = await suite.gateway.metrics();
    const delta = (series: string) => sample(after, series) - sample(before, series);
    expect(delta('budget_gateway_request_duration_seconds_count{route="/v1/chat/completions",status_class="2xx"}')).toBe(1);
    expect(delta('budget_gateway_upstream_duration_seconds_count{route="/v1/chat/completions"}')).toBe(1);
    expect(delta('budget_gateway_overhead_seconds_count')).toBe(1);
    // Overhead excludes the upstream: it can never exceed the whole request's duration.
    expect(delta('budget_gateway_overhead_seconds_sum')).toBeLessThanOrEqual(
      delta('budget_gateway_request_duration_seconds_sum{route="/v1/chat/completions",status_class="2xx"}'),
    );
    expect(after).toContain('budget_gateway_circuit_state 0');
  });

  it('records the overhead of a streamed request too, whose upstream time is known only once the stream has ended', async () => {
    const before = await suite.gateway.metrics();
    const streamed = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    // Chunks 20 ms apart: the stream ends well after the handler has passed the headers on.
    const res = await request(`${suite.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${suite.tenant.key}`, 'content-type': 'application/json', 'x-sim-chunks': '5', 'x-sim-chunk-delay-ms': '20' },
      body: streamed,
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const after = await suite.gateway.metrics();
    const delta = (series: string) => sample(after, series) - sample(before, series);
    expect(delta('budget_gateway_upstream_duration_seconds_count{route="/v1/chat/completions"}')).toBe(1);
    expect(delta('budget_gateway_overhead_seconds_count')).toBe(1);
  });

  it('passes promtool check metrics (Node default nodejs_active_*_total gauges aside)', async (ctx) => {
    if (!hasPromtool()) {
      if (process.env.CI) throw new Error('promtool is missing: .ci/run installs it (apt-get install prometheus)');
      ctx.skip('promtool not installed: apt-get install prometheus');
    }
    const text = await suite.gateway.metrics();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const problems = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^nodejs_active_\w+_total\b/.test(line));
    expect(problems).toEqual([]);
  });
});

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
