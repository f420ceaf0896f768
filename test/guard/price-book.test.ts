import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PriceBook } from '../../src/guard/price-book.js';
import { createLogger } from '../../src/logger.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { closedPort } from '../support/gateway.js';

describe('model prices', () => {
  let sim: SimLiteLLM;
  const logger = createLogger('silent');
  beforeAll(async () => {
    sim = await startSimLiteLLM({ inputCostPerToken: 0.00000015, outputCostPerToken: 0.0000006 });
  });
  afterAll(() => sim.close());

  it("takes LiteLLM's /model/info prices, per token, as USD per million tokens", async () => {
    const book = new PriceBook({});
    expect(book.get('gpt-4o')).toBeUndefined();
    await book.refresh(sim.url, 'sk-master', logger);
    expect(book.get('gpt-4o')).toEqual({ inputPerMillion: 0.15, outputPerMillion: 0.6 });
    expect(sim.requests.at(-1)!.headers.authorization).toBe('Bearer sk-master');
  });

  it('lets CONFIG_FILE prices win over LiteLLM, model by model', async () => {
    const book = new PriceBook({ 'gpt-4o': { input_per_million: 2.5, output_per_million: 10 } });
    await book.refresh(sim.url, undefined, logger);
    expect(book.get('gpt-4o')).toEqual({ inputPerMillion: 2.5, outputPerMillion: 10 });
    expect(book.get('gpt-4o-mini')).toEqual({ inputPerMillion: 0.15, outputPerMillion: 0.6 });
  });

  it('keeps what it has when LiteLLM does not answer', async () => {
    const book = new PriceBook({ 'gpt-4o': { input_per_million: 2.5, output_per_million: 10 } });
    await book.refresh(`http://127.0.0.1:${await closedPort()}`, undefined, logger);
    expect(book.get('gpt-4o')).toEqual({ inputPerMillion: 2.5, outputPerMillion: 10 });
    expect(book.get(undefined)).toBeUndefined();
  });
});
