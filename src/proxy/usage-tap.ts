/**
 * Reads token usage (and LiteLLM's `usage.cost`) out of an upstream answer as it streams past,
 * without holding it back: the usage is in the last bytes of a JSON answer and in one event of
 * a server-sent stream. When the gateway itself asked for `stream_options.include_usage`, the
 * usage-only event is taken out again so the client sees the stream it asked for.
 */

import { objectAfterKey, objectEnd, readUsageObject } from './usage-object.js';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** USD, when the upstream put a cost in the usage object (LiteLLM can). */
  readonly costUsd: number | undefined;
}

export interface UsageTap {
  /** What to send the client for this chunk: the chunk itself, part of it, or nothing. */
  write(chunk: Buffer): Buffer | undefined;
  /** Bytes still held at the end of the answer (an unterminated last event). */
  end(): Buffer | undefined;
  readonly usage: Usage | undefined;
}

const USAGE = Buffer.from('"usage"');
// A usage object, as opposed to the `"usage":null` OpenAI puts in every other chunk.
const USAGE_OBJECT = [Buffer.from('"usage":{'), Buffer.from('"usage": {')];
const EVENT_ENDS = [Buffer.from('\n\n'), Buffer.from('\r\n\r\n')];
const TAIL_BYTES = 8192;

export function createUsageTap(contentType: string | undefined, options: { stripUsageEvent: boolean }): UsageTap {
  return contentType?.startsWith('text/event-stream') ? new StreamTap(options.stripUsageEvent) : new JsonTap();
}

/** A JSON answer: OpenAI and LiteLLM put `usage` last, so only the tail is kept and read. */
class JsonTap implements UsageTap {
  /** The last chunks, holding at least TAIL_BYTES: references only, joined once when read. */
  readonly #tail: Buffer[] = [];
  #tailBytes = 0;
  #usage: Usage | undefined | null = null;

  write(chunk: Buffer): Buffer {
    this.#tail.push(chunk);
    this.#tailBytes += chunk.length;
    while (this.#tailBytes - this.#tail[0]!.length >= TAIL_BYTES) this.#tailBytes -= this.#tail.shift()!.length;
    return chunk;
  }

  end(): undefined {
    return undefined;
  }

  get usage(): Usage | undefined {
    if (this.#usage === null) {
      const tail = this.#tail.length === 1 ? this.#tail[0]! : Buffer.concat(this.#tail, this.#tailBytes);
      this.#usage = usageFromTail(tail.length > TAIL_BYTES ? tail.subarray(tail.length - TAIL_BYTES) : tail);
    }
    return this.#usage;
  }
}

/** A server-sent event stream: usage arrives in one event, near the end. */
class StreamTap implements UsageTap {
  #partial: Buffer | undefined;
  usage: Usage | undefined;

  constructor(private readonly strip: boolean) {}

  write(chunk: Buffer): Buffer | undefined {
    const data = this.#partial ? Buffer.concat([this.#partial, chunk]) : chunk;
    const complete = endOfLastEvent(data);
    this.#partial = complete < data.length ? data.subarray(complete) : undefined;
    const events = complete > 0 ? data.subarray(0, complete) : undefined;
    // Without stripping, the client gets every byte the moment it arrives; events are only
    // assembled on the side to be read.
    if (events && USAGE_OBJECT.some((mark) => events.includes(mark))) return this.#readEvents(events, this.strip ? undefined : chunk);
    return this.strip ? events : chunk;
  }

  end(): Buffer | undefined {
    const rest = this.#partial;
    this.#partial = undefined;
    return this.strip ? rest : undefined;
  }

  #readEvents(events: Buffer, passThrough: Buffer | undefined): Buffer | undefined {
    const kept: string[] = [];
    for (const event of events.toString('utf8').split(/\r?\n\r?\n/)) {
      if (event === '') continue;
      const found = usageOfEvent(event);
      if (found) this.usage = found.usage;
      if (!(found?.usageOnly && this.strip)) kept.push(event);
    }
    if (passThrough) return passThrough;
    return kept.length === 0 ? undefined : Buffer.from(kept.join('\n\n') + '\n\n');
  }
}

function endOfLastEvent(data: Buffer): number {
  let end = 0;
  for (const mark of EVENT_ENDS) {
    const at = data.lastIndexOf(mark);
    if (at >= 0) end = Math.max(end, at + mark.length);
  }
  return end;
}

function usageOfEvent(event: string): { usage: Usage; usageOnly: boolean } | undefined {
  if (!event.includes('"usage"')) return undefined;
  const data = event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
  const payload = parseObject(data);
  if (!payload) return undefined;
  // Chat and completions chunks carry `usage`; the Responses API puts it in `response.usage`.
  const raw = payload.usage ?? (isObject(payload.response) ? payload.response.usage : undefined);
  const usage = toUsage(raw);
  if (!usage) return undefined;
  return { usage, usageOnly: Array.isArray(payload.choices) && payload.choices.length === 0 };
}

/**
 * The object after the last `"usage":` of the tail, read on the bytes themselves (src/proxy/usage-object.ts);
 * one that reader leaves alone is cut out (braces inside strings skipped) and parsed.
 */
function usageFromTail(tail: Buffer): Usage | undefined {
  const at = tail.lastIndexOf(USAGE);
  const open = at < 0 ? -1 : objectAfterKey(tail, at + USAGE.length);
  if (open < 0) return undefined;
  const fields = readUsageObject(tail, open);
  if (fields !== null) return fields && toUsage(fields);
  const end = objectEnd(tail, open);
  return end < 0 ? undefined : toUsage(parseObject(tail.toString('utf8', open, end)));
}

function toUsage(raw: unknown): Usage | undefined {
  if (!isObject(raw)) return undefined;
  const prompt = raw.prompt_tokens ?? raw.input_tokens;
  const completion = raw.completion_tokens ?? raw.output_tokens ?? 0;
  if (!isCount(prompt) || !isCount(completion)) return undefined;
  const cost = typeof raw.cost === 'number' && Number.isFinite(raw.cost) && raw.cost >= 0 ? raw.cost : undefined;
  return { promptTokens: prompt, completionTokens: completion, costUsd: cost };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
