import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, type TestTenant } from '../support/gateway.js';
import { waitForLedgerRows } from '../support/ledger.js';

/**
 * The upstream's response head and body as a client of the gateway gets them, with an upstream
 * that writes what LiteLLM and its web servers may: header names in any case, a header twice,
 * informational answers before the final one, bodies faster than the client reads.
 */

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/** What the flood case has written so far. */
const flood = { written: 0 };
const FLOOD_BYTES = 256 * 1024 * 1024;
const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 'a');

function upstreamAnswer(req: http.IncomingMessage, res: http.ServerResponse): void {
  switch (req.headers['x-test-case']) {
    case 'headers':
      // The array form writes names as given, and a name given twice as two lines.
      res.writeHead(200, [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(Buffer.byteLength(COMPLETION))],
        ['X-LiteLLM-Response-Cost', '0.25'],
        ['Connection', 'keep-alive, X-Hop'],
        ['X-Hop', 'for this connection only'],
        ['X-Dup', 'one'],
        ['X-Dup', 'two'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
        ['X-Budget-Status', 'the upstream says'],
        ['X-Request-Id', 'the upstream id'],
        ['Proxy-Authenticate', 'Basic'],
      ].flat());
      res.end(COMPLETION);
      return;
    case 'early-hints':
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(200, { 'content-type': 'application/json', 'x-litellm-response-cost': '0.5' });
      res.end(COMPLETION);
      return;
    case 'flood': {
      flood.written = 0;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-litellm-response-cost': '0.000001' });
      const more = (): void => {
        while (flood.written < FLOOD_BYTES) {
          flood.written += FLOOD_CHUNK.length;
          if (!res.write(FLOOD_CHUNK)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

describe("the upstream's answer, as the client gets it", () => {
  let upstream: http.Server;
  let gateway: TestGateway;
  let tenant: TestTenant;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => upstreamAnswer(req, res));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const { port } = upstream.address() as AddressInfo;
    gateway = await startTestGateway({ LITELLM_BASE_URL: `http://127.0.0.1:${port}` });
    tenant = await gateway.createTenant();
  });
  afterAll(async () => {
    await gateway?.shutdown();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  /** A chat request over node:http, so the answer's raw header lines can be read. */
  function chat(testCase: string): Promise<http.IncomingMessage> {
    const { port } = new URL(gateway.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent: false, headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', 'x-test-case': testCase } },
        resolve,
      );
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    });
  }

  async function text(res: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  }

  /** The values of every line of one header, in order. */
  function lines(res: http.IncomingMessage, name: string): string[] {
    const values: string[] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]!.toLowerCase() === name) values.push(res.rawHeaders[i + 1]!);
    return values;
  }

  it("passes end-to-end headers in any case and as often as sent, drops the hop-by-hop ones, and puts the gateway's own in place of the upstream's", async () => {
    const res = await chat('headers');
    expect(await text(res)).toBe(COMPLETION);
    expect(res.statusCode).toBe(200);
    expect(lines(res, 'content-type')).toEqual(['application/json']);
    expect(lines(res, 'x-dup')).toEqual(['one', 'two']);
    expect(lines(res, 'set-cookie')).toEqual(['a=1', 'b=2']);
    expect(lines(res, 'x-litellm-response-cost')).toEqual(['0.25']);
    expect(lines(res, 'x-hop')).toEqual([]);
    expect(lines(res, 'proxy-authenticate')).toEqual([]);
    expect(lines(res, 'x-budget-status')).toEqual(['ok']);
    const [requestId, ...more] = lines(res, 'x-request-id');
    expect(more).toEqual([]);
    expect(requestId).not.toBe('the upstream id');

    // The cost header is read whatever the case of its name.
    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 1);
    expect(rows.at(-1)).toMatchObject({ requestId, costMicros: 250_000, costSource: 'response_header' });
  });

  it('answers with the final head after informational ones (103 Early Hints)', async () => {
    const res = await chat('early-hints');
    expect(res.statusCode).toBe(200);
    expect(await text(res)).toBe(COMPLETION);
    const [requestId] = lines(res, 'x-request-id');
    const rows = await waitForLedgerRows(gateway.db, tenant.tenantId, 2);
    expect(rows.find((r) => r.requestId === requestId)).toMatchObject({ costMicros: 500_000, costSource: 'response_header' });
  });

  it('holds the upstream back while the client does not read, and then delivers every byte', async () => {
    const res = await chat('flood');
    res.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Unread, the answer fills the sockets' buffers on its way and then stops: a gateway that
    // kept reading would hold the whole body in memory.
    expect(flood.written).toBeLessThan(FLOOD_BYTES / 4);
    let received = 0;
    for await (const chunk of res) received += (chunk as Buffer).length;
    expect(received).toBe(FLOOD_BYTES);
  });
});
