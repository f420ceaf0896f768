import type { TokenUsage } from './cost.js';

/** A cost-bearing request as the budget guard sees it: route and parsed JSON body (any value). */
export type EstimateInput = { endpoint: string; body: unknown };

export type EstimateOptions = {
  /** Completion tokens assumed when the request sets no max_completion_tokens / max_tokens. */
  defaultCompletionTokens: number;
};

/** The usual rule of thumb for English text with OpenAI tokenizers. */
const CHARS_PER_TOKEN = 4;
/** Deep enough for messages → parts → text; bounds the walk over hostile nesting. */
const MAX_DEPTH = 6;
/** Fields whose text reaches the model: chat, completions, embeddings, responses, rerank. */
const PROMPT_FIELDS = ['messages', 'prompt', 'input', 'instructions', 'query', 'documents'];
/**
 * Routes that generate no completion tokens, however the path is written: leading and trailing
 * slashes, an optional `v1/`, a query. One test per request, nothing allocated.
 */
const NO_COMPLETION = /^\/*(?:v1\/)?(?:embeddings|moderations|rerank)\/*(?:\?|$)/;

/**
 * Tokens a request will probably use, for its reservation: prompt ≈ characters / 4 of its text,
 * completion = its own limit (else the default) times the choices it asks for. The body comes
 * from a client, so anything unexpected counts as nothing: this never throws or returns NaN.
 */
export function estimateTokens(input: EstimateInput, options: EstimateOptions): TokenUsage {
  const body = isRecord(input.body) ? input.body : {};
  let chars = 0;
  for (const field of PROMPT_FIELDS) chars += textChars(body[field], 0);
  return {
    promptTokens: Math.ceil(chars / CHARS_PER_TOKEN),
    completionTokens: typeof input.endpoint === 'string' && NO_COMPLETION.test(input.endpoint) ? 0 : completionTokens(body, options),
  };
}

function completionTokens(body: Record<string, unknown>, options: EstimateOptions): number {
  const limit =
    positive(body.max_completion_tokens) ??
    positive(body.max_tokens) ??
    positive(body.max_output_tokens) ??
    positive(options.defaultCompletionTokens) ??
    0;
  // Completions' best_of generates (and bills) that many choices server-side, n of them returned.
  const choices = Math.max(positive(body.n) ?? 1, positive(body.best_of) ?? 1);
  return Math.min(limit * choices, Number.MAX_SAFE_INTEGER);
}

/**
 * Characters of text in a prompt field: strings, arrays of them, content parts' `text`, message
 * items' `content`. A number is a token id of a pre-tokenized prompt, so counts as one token.
 */
function textChars(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return Number.isFinite(value) ? CHARS_PER_TOKEN : 0;
  if (depth >= MAX_DEPTH || typeof value !== 'object' || value === null) return 0;
  if (Array.isArray(value)) {
    let chars = 0;
    for (const item of value) chars += textChars(item, depth + 1);
    return chars;
  }
  const part = value as Record<string, unknown>;
  const text = typeof part.text === 'string' ? part.text.length : 0;
  return text + textChars(part.content, depth + 1);
}

/** A whole count >= 1, rounded up; undefined for anything else. */
function positive(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 1 && value <= Number.MAX_SAFE_INTEGER
    ? Math.ceil(value)
    : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
