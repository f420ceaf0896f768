// Deterministic response bodies of the simulated LiteLLM. Pure functions only: sockets, timers
// and routing live in litellm.ts, so every shape here can be reasoned about in isolation.

export type Json = Record<string, unknown>;

export interface Prices {
  inputCostPerToken: number;
  outputCostPerToken: number;
}

export const MODEL_IDS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'];
const DEFAULT_MODEL = 'gpt-4o-mini';
// A fixed timestamp keeps model listings byte-identical between runs.
const MODEL_CREATED = 1_700_000_000;
const EMBEDDING_DIMS = 8;

// One reply word per chunk makes completion_tokens equal to the chunk count, so callers can
// predict usage and cost without a tokenizer. The default 5 chunks spell the whole sentence.
const FIRST_WORD = 'Hello';
const SPACED_WORDS = [' Hello', ' from', ' the', ' simulated', ' LiteLLM.'];

export function replyPieces(count: number): string[] {
  const pieces = new Array<string>(count);
  for (let i = 0; i < count; i++) pieces[i] = i === 0 ? FIRST_WORD : (SPACED_WORDS[i % SPACED_WORDS.length] as string);
  return pieces;
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Walks strings, content-part arrays and message lists alike; a number counts as one token
// (pre-tokenised input) so token arrays are billed too.
function textChars(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return 4;
  if (Array.isArray(value)) {
    let total = 0;
    for (const item of value) total += textChars(item);
    return total;
  }
  if (!isObject(value)) return 0;
  if (typeof value.text === 'string') return value.text.length;
  return textChars(value.content);
}

export function promptTokens(...values: unknown[]): number {
  let chars = 0;
  for (const value of values) chars += textChars(value);
  return Math.max(1, Math.ceil(chars / 4));
}

export function modelOf(body: Json): string {
  return typeof body.model === 'string' && body.model !== '' ? body.model : DEFAULT_MODEL;
}

const ID_BASE = Math.random().toString(36).slice(2, 8);
let idCounter = 0;

export function newId(prefix: string): string {
  idCounter += 1;
  return `${prefix}${ID_BASE}${idCounter.toString(36)}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function costOf(prices: Prices, prompt: number, completion: number): number {
  return prompt * prices.inputCostPerToken + completion * prices.outputCostPerToken;
}

// String(2e-5) is "2e-5"; LiteLLM consumers expect a plain decimal. Twelve places also absorb the
// float noise of the multiplication (0.000019999999999 -> "0.00002").
export function formatCost(cost: number): string {
  const fixed = cost.toFixed(12);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost?: number;
}

export function chatUsage(prompt: number, completion: number, cost?: number): ChatUsage {
  const usage: ChatUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cost !== undefined) usage.cost = cost;
  return usage;
}

export function chatCompletion(model: string, content: string, usage: ChatUsage): Json {
  return {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
  };
}

export function textCompletion(model: string, text: string, usage: ChatUsage): Json {
  return {
    id: newId('cmpl-'),
    object: 'text_completion',
    created: nowSeconds(),
    model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }],
    usage,
  };
}

export function responsesUsage(input: number, output: number, cost?: number): Json {
  const usage: Json = {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
  if (cost !== undefined) usage.cost = cost;
  return usage;
}

export function outputText(text: string): Json {
  return { type: 'output_text', text, annotations: [] };
}

export function messageItem(id: string, status: string, content: Json[]): Json {
  return { type: 'message', id, status, role: 'assistant', content };
}

export function responseObject(id: string, createdAt: number, model: string, status: string, output: Json[], usage: Json | null): Json {
  return { id, object: 'response', created_at: createdAt, status, model, output, usage };
}

export function completedResponse(model: string, text: string, usage: Json): Json {
  const item = messageItem(newId('msg_'), 'completed', [outputText(text)]);
  return responseObject(newId('resp_'), nowSeconds(), model, 'completed', [item], usage);
}

// A token list ([1, 2, 3]) is one input; only an array of strings or of token lists is a batch.
export function embeddingInputs(input: unknown): unknown[] {
  return Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
}

// Vectors are rounded to float32 first so the float and base64 encodings carry the same numbers.
export function embeddings(model: string, inputs: unknown[], base64: boolean, prompt: number): Json {
  const data = inputs.map((input, index) => {
    const vector = new Float32Array(EMBEDDING_DIMS);
    const seed = textChars(input) + index;
    for (let j = 0; j < EMBEDDING_DIMS; j++) vector[j] = Math.sin(seed * 0.37 + j);
    const embedding = base64 ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
    return { object: 'embedding', index, embedding };
  });
  return { object: 'list', data, model, usage: { prompt_tokens: prompt, total_tokens: prompt } };
}

const MODERATION_CATEGORIES = ['harassment', 'hate', 'self-harm', 'sexual', 'violence'];
const NOT_FLAGGED = {
  flagged: false,
  categories: Object.fromEntries(MODERATION_CATEGORIES.map((name) => [name, false])),
  category_scores: Object.fromEntries(MODERATION_CATEGORIES.map((name) => [name, 0])),
};

export function moderation(model: string, inputs: unknown[]): Json {
  return { id: newId('modr-'), model, results: inputs.map(() => NOT_FLAGGED) };
}

export function rerank(documents: unknown, topN: unknown): Json {
  const count = Array.isArray(documents) ? documents.length : 0;
  const limit = typeof topN === 'number' && topN >= 0 ? Math.min(topN, count) : count;
  const results = [];
  // Scores fall with the index, so the input order is already the ranking.
  for (let index = 0; index < limit; index++) results.push({ index, relevance_score: 1 / (index + 1) });
  return { id: newId('rerank-'), results, meta: { billed_units: { search_units: 1 } } };
}

function modelEntry(id: string): Json {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: 'litellm' };
}

export function modelList(): Json {
  return { object: 'list', data: MODEL_IDS.map(modelEntry) };
}

export function modelById(id: string): Json | undefined {
  return MODEL_IDS.includes(id) ? modelEntry(id) : undefined;
}

export function modelInfo(prices: Prices): Json {
  return {
    data: MODEL_IDS.map((id) => ({
      model_name: id,
      litellm_params: { model: `openai/${id}` },
      model_info: { input_cost_per_token: prices.inputCostPerToken, output_cost_per_token: prices.outputCostPerToken },
    })),
  };
}

const ERROR_KINDS: Record<number, [type: string, code: string, message: string]> = {
  400: ['invalid_request_error', 'bad_request', 'Simulated bad request.'],
  401: ['authentication_error', 'invalid_api_key', 'Simulated authentication failure.'],
  403: ['permission_error', 'permission_denied', 'Simulated permission failure.'],
  404: ['invalid_request_error', 'not_found', 'Simulated not found.'],
  408: ['timeout_error', 'request_timeout', 'Simulated request timeout.'],
  422: ['invalid_request_error', 'unprocessable_entity', 'Simulated unprocessable entity.'],
  429: ['rate_limit_error', 'rate_limit_exceeded', 'Simulated rate limit.'],
  500: ['server_error', 'internal_server_error', 'Simulated internal server error.'],
  502: ['server_error', 'bad_gateway', 'Simulated bad gateway.'],
  503: ['server_error', 'service_unavailable', 'Simulated service unavailable.'],
  504: ['server_error', 'gateway_timeout', 'Simulated gateway timeout.'],
};

// Error bodies for the stock messages are reused: the benchmark may ask for thousands of them.
const errorCache = new Map<number, string>();

export function errorBody(status: number, message?: string): string {
  const cached = message === undefined ? errorCache.get(status) : undefined;
  if (cached !== undefined) return cached;
  const [type, code, stock] = ERROR_KINDS[status] ??
    (status >= 500 ? ['server_error', 'upstream_error', `Simulated error ${status}.`] : ['invalid_request_error', 'error', `Simulated error ${status}.`]);
  const body = JSON.stringify({ error: { message: message ?? stock, type, param: null, code } });
  if (message === undefined) errorCache.set(status, body);
  return body;
}
