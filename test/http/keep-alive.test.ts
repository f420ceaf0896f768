import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { Agent, fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { withSimAndGateway } from '../support/gateway.js';

/**
 * A client's idle connection outlives Node's default of 5 s: a load balancer in front keeps its
 * own for 60 s, and one that reused a connection just as the gateway closed it would answer 502.
 */
describe("the clients' keep-alive connections", () => {
  const suite = withSimAndGateway();

  it('stay open across an idle pause longer than 5 s, so the next request reuses the connection', async () => {
    const events: string[] = [];
    const agent = new Agent({ keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
    agent.on('connect', () => events.push('connect'));
    agent.on('disconnect', () => events.push('disconnect'));
    const client = new OpenAI({
      apiKey: suite.tenant.key,
      baseURL: `${suite.gateway.url}/v1`,
      maxRetries: 0,
      fetch: fetch as unknown as typeof globalThis.fetch,
      fetchOptions: { dispatcher: agent } as Record<string, unknown>,
    });
    try {
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one' }] });
      await sleep(6_000);
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'two' }] });
      expect(events).toEqual(['connect']);
    } finally {
      await agent.close();
    }
  }, 20_000);
});
