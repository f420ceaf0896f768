import { request } from 'undici';
import type { ModelPrice } from '../budget/cost.js';
import type { ConfigFile } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Model prices for estimates and for costing usage when LiteLLM reports no cost. Prices set in
 * CONFIG_FILE are the operator's word and win; LiteLLM's own `/model/info` fills in the rest.
 */
export class PriceBook {
  readonly #configured: ReadonlyMap<string, ModelPrice>;
  #fromLiteLLM: ReadonlyMap<string, ModelPrice> = new Map();

  constructor(configured: ConfigFile['prices']) {
    this.#configured = new Map(
      Object.entries(configured).map(([model, p]) => [model, { inputPerMillion: p.input_per_million, outputPerMillion: p.output_per_million }]),
    );
  }

  get(model: string | undefined): ModelPrice | undefined {
    if (model === undefined) return undefined;
    return this.#configured.get(model) ?? this.#fromLiteLLM.get(model);
  }

  /** Loads LiteLLM's prices; keeps the previous ones when LiteLLM does not answer. */
  async refresh(baseUrl: string, apiKey: string | undefined, logger: Logger): Promise<void> {
    try {
      const res = await request(`${baseUrl}/model/info`, {
        headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        logger.info({ status: res.statusCode }, 'LiteLLM /model/info unavailable; using configured prices');
        return;
      }
      this.#fromLiteLLM = pricesOf(await res.body.json());
      logger.info({ models: this.#fromLiteLLM.size }, 'loaded model prices from LiteLLM');
    } catch (err) {
      logger.info({ err: (err as Error).message }, 'LiteLLM /model/info unreachable; using configured prices');
    }
  }
}

/** LiteLLM quotes USD per token; the price book keeps USD per million tokens. */
function pricesOf(body: unknown): Map<string, ModelPrice> {
  const prices = new Map<string, ModelPrice>();
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return prices;
  for (const entry of data as Array<{ model_name?: unknown; model_info?: Record<string, unknown> | null }>) {
    const input = entry.model_info?.input_cost_per_token;
    const output = entry.model_info?.output_cost_per_token;
    if (typeof entry.model_name !== 'string' || typeof input !== 'number' || input < 0) continue;
    prices.set(entry.model_name, {
      inputPerMillion: perMillion(input),
      outputPerMillion: typeof output === 'number' && output >= 0 ? perMillion(output) : 0,
    });
  }
  return prices;
}

// 1.5e-7 * 1e6 is 0.15000000000000002 in floats; round to the 9 decimals prices can carry.
const perMillion = (perToken: number) => Math.round(perToken * 1e15) / 1e9;
