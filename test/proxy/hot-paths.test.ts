import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { InFlight } from '../../src/http/in-flight.js';
import { createLogger } from '../../src/logger.js';
import { RequestObserver } from '../../src/http/observe.js';
import { createMetrics } from '../../src/metrics.js';
import { HotPaths } from '../../src/proxy/hot-paths.js';
import { httpRequest, keepAliveExchange as exchange } from '../chaos/support/raw-http.js';
import { sample, withSimAndGateway } from '../support/gateway.js';

describe('which requests the hot paths take (the rest goes through Hono)', () => {
  function hotPaths() {
    const handler = vi.fn(async () => {});
    const paths = new HotPaths(new RequestObserver(createMetrics({ tenantLabelCap: 10 }), new InFlight()), createLogger('silent'));
    paths.add('/v1/chat/completions', '/v1/chat/completions', handler);
    paths.add('/chat/completions', '/v1/chat/completions', handler);
    return { paths, handler };
  }
  const incoming = (url: string, host: string | undefined) => ({ url, method: 'POST', headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;
  const outgoing = () => Object.assign(new EventEmitter(), { closed: false }) as unknown as ServerResponse;

  it.each([
    ['/v1/chat/completions', '127.0.0.1:4000'],
    ['/chat/completions', 'gateway'],
    ['/v1/chat/completions?api-version=2024-10-21', 'budget-gateway.internal:8080'],
  ])('takes %s with Host %s', (url, host) => {
    const { paths, handler } = hotPaths();
    expect(paths.serve(incoming(url, host), outgoing())).toBe(true);
    expect(handler).toHaveBeenCalledOnce();
  });

  it.each([
    ['a path not in the table', '/v1/images/generations', '127.0.0.1'],
    ['a trailing slash', '/v1/chat/completions/', '127.0.0.1'],
    ['an escaped letter Hono decodes', '/v1/chat/complet%69ons', '127.0.0.1'],
    ['other letter case', '/V1/chat/completions', '127.0.0.1'],
    ['a doubled slash', '//v1/chat/completions', '127.0.0.1'],
    ['the absolute form', 'http://127.0.0.1/v1/chat/completions', '127.0.0.1'],
    ['a Host in capitals (the adapter parses it)', '/v1/chat/completions', 'Gateway'],
    ['a Host with a space', '/v1/chat/completions', 'a b'],
    ['a Host with a two-digit port (the adapter parses it)', '/v1/chat/completions', 'gateway:80'],
    ['no Host at all', '/v1/chat/completions', undefined],
  ])('leaves %s to the app', (_what, url, host) => {
    const { paths, handler } = hotPaths();
    expect(paths.serve(incoming(url, host), outgoing())).toBe(false);
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('the hot paths answer as the app does', () => {
  const suite = withSimAndGateway({ MAX_BODY_BYTES: '2048' });
  const port = () => Number(new URL(suite.gateway.url).port);

  it('refuses an unknown key, and a body too large, alike on the hot path and through the app', async () => {
    const ask = (path: string, authorization: string, body: string) =>
      exchange(port(), [httpRequest('POST', path, [['authorization', authorization], ['content-type', 'application/json'], ['x-request-id', 'same-id']], body)]);
    const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(4_000) }] });
    // `/v1/chat/complet%69ons` is the same route to Hono, and not a literal path of the hot paths.
    for (const [authorization, body, status] of [['Bearer sk-nobody', chat, 401], [`Bearer ${suite.tenant.key}`, big, 413]] as const) {
      const [hot] = await ask('/v1/chat/completions', authorization, body);
      const [viaApp] = await ask('/v1/chat/complet%69ons', authorization, body);
      expect(hot!.status).toBe(status);
      expect(viaApp!.status).toBe(status);
      expect(hot!.body).toBe(viaApp!.body);
      for (const name of ['content-type', 'content-length', 'x-request-id']) expect(hot!.headers[name]).toBe(viaApp!.headers[name]);
    }
    const metrics = await suite.gateway.metrics();
    expect(sample(metrics, 'budget_gateway_requests_total{route="/v1/chat/completions",method="POST",status="401"}')).toBe(2);
    expect(sample(metrics, 'budget_gateway_requests_total{route="/v1/chat/completions",method="POST",status="413"}')).toBe(2);
  });

  it('closes the connection after refusing a body it read only in part, and the next connection is served', async () => {
    // A chunked 64 KB body; the gateway stops reading at 2,048 bytes and answers 413. Node says
    // `connection: close` and closes it (the rest of the body is never parsed as a request).
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const piece = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const chunked = Buffer.concat([piece, piece, piece, piece, Buffer.from('0\r\n\r\n')]);
    const headers: [string, string][] = [['authorization', `Bearer ${suite.tenant.key}`], ['content-type', 'application/json']];
    for (const path of ['/v1/chat/completions', '/v1/chat/complet%69ons']) {
      const [refused] = await exchange(port(), [httpRequest('POST', path, [...headers, ['transfer-encoding', 'chunked']], chunked)]);
      expect(refused!.status).toBe(413);
      expect(refused!.headers.connection).toBe('close');
    }
    const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const [served] = await exchange(port(), [httpRequest('POST', '/v1/chat/completions', headers, chat)]);
    expect(served!.status).toBe(200);
    expect(JSON.parse(served!.body).object).toBe('chat.completion');
  });
});
