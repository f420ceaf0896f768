/**
 * One request's usage as it travels from settle to the ledger table: serialized into the store's
 * atomic settle step (a Redis Stream entry, or the in-process queue) as JSON whose keys are the
 * ledger's column names, so a batch goes to the database as one JSON array without being decoded.
 */
export interface UsageRecord {
  readonly requestId: string;
  readonly clientRequestId: string | null;
  readonly tenantId: string;
  readonly keyId: string | null;
  readonly model: string | null;
  readonly endpoint: string;
  readonly status: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costMicros: number;
  readonly costSource: CostSource;
  /** The period's start and the settle's time, in ms since the epoch (ISO 8601 in the event). */
  readonly periodStartedAtMs: number;
  readonly createdAtMs: number;
}

export type CostSource = 'response_header' | 'stream_usage' | 'price_table' | 'estimate';

/** The event's keys, in the order `encodeUsage` writes them: the ledger columns a batch fills. */
export const USAGE_EVENT_COLUMNS = [
  'request_id', 'client_request_id', 'tenant_id', 'key_id', 'model', 'endpoint', 'status',
  'prompt_tokens', 'completion_tokens', 'cost_micros', 'cost_source', 'period_started_at', 'created_at',
] as const;

/**
 * The same JSON as `JSON.stringify` of an object keyed by column name, written as one template:
 * a usage event is encoded for every request, and this is a third of the cost of building the
 * object and stringifying it. A string is quoted as it is unless it holds something JSON escapes
 * or the table cannot store (client-supplied ids and model names may); only those go through
 * `JSON.stringify`, a quarter of an event's encoding otherwise (1.00 → 0.72 µs an event, measured
 * in a loop). Numbers and the fixed cost sources need neither.
 *
 * V8 keeps the result of such a template as a tree of its pieces (a rope), about three times the
 * size of the text (1.2 KB for a 384-byte event, measured), and every young-generation collection
 * the event lives through copies the whole tree; events wait for their batch for up to 100 ms.
 * Reading a character makes V8 flatten the rope in place into one run of bytes (416 bytes).
 */
export function encodeUsage(r: UsageRecord): string {
  const event =
    `{"request_id":${text(r.requestId)},"client_request_id":${text(r.clientRequestId)},"tenant_id":${tenantText.of(r.tenantId)},` +
    `"key_id":${keyText.of(r.keyId)},"model":${modelText.of(r.model)},"endpoint":${endpointText.of(r.endpoint)},"status":${r.status},` +
    `"prompt_tokens":${int4(r.promptTokens)},"completion_tokens":${int4(r.completionTokens)},"cost_micros":${r.costMicros},` +
    `"cost_source":"${r.costSource}","period_started_at":"${periodIso(r.periodStartedAtMs)}","created_at":"${createdIso(r.createdAtMs)}"}`;
  event.charCodeAt(0);
  return event;
}

/**
 * The JSON text of the last value of a field that mostly repeats from one event to the next (the
 * tenant, key, model and endpoint of a busy client): the check and the quoting are done once per
 * new value, not per event.
 */
class LastText {
  #value: string | null = null;
  #text = 'null';

  of(value: string | null): string {
    if (value !== this.#value) {
      this.#text = text(value);
      this.#value = value;
    }
    return this.#text;
  }
}

const tenantText = new LastText();
const keyText = new LastText();
const modelText = new LastText();
const endpointText = new LastText();

/**
 * An event the ledger table refuses would fail its batch on every retry, and every event behind
 * it would wait: the ledger would stall for everyone. So what the table cannot hold is made
 * storable here. PostgreSQL's text holds no NUL character and no lone UTF-16 surrogate (a JSON
 * body may name its model "gpt\u0000" or "gpt\ud800" and the upstream still serve it): each
 * becomes U+FFFD, the replacement character. Token counts are 32-bit integers there: an upstream
 * reporting more (2^31 tokens and up) is stored as the largest.
 */
const NOT_STORABLE = /[\u0000\ud800-\udfff]/;
const UNSTORABLE_CHARACTERS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const INT4_MAX = 2 ** 31 - 1;

/** What JSON.stringify escapes (quote, backslash, control characters, lone surrogates: here any surrogate) or `storableText` replaces. */
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

function text(value: string | null): string {
  if (value === null) return 'null';
  // Without any of those, the value quoted as it is is what JSON.stringify would make.
  return NEEDS_CARE.test(value) ? JSON.stringify(storableText(value)) : `"${value}"`;
}

/** `value` as PostgreSQL's text can hold it: each NUL and lone surrogate becomes U+FFFD. */
export function storableText(value: string): string {
  return NOT_STORABLE.test(value) ? value.replace(UNSTORABLE_CHARACTERS, '\ufffd') : value;
}

function int4(n: number): number {
  return n > INT4_MAX ? INT4_MAX : n;
}

/**
 * Requests settled in the same millisecond share its ISO form, and those of the same second its
 * date and time: only the milliseconds are written per new millisecond (a `Date` and its
 * `toISOString` per request were 0.9 % of the embedded gateway's samples at c=64).
 */
let lastCreatedMs = Number.NaN;
let lastCreatedIso = '';
let lastSecond = Number.NaN;
/** `2026-11-23T07:17:33.` of `lastSecond`. */
let secondIso = '';

function createdIso(at: number): string {
  // Whole milliseconds, as a Date keeps them (a test clock may hand out fractions).
  const ms = Math.floor(at);
  if (ms !== lastCreatedMs) {
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      secondIso = new Date(second * 1000).toISOString().slice(0, 20);
      lastSecond = second;
    }
    const milli = ms - second * 1000;
    lastCreatedIso = `${secondIso}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
    lastCreatedMs = ms;
  }
  return lastCreatedIso;
}

/** Period starts are shared by every request of a period: their ISO form is kept, not rebuilt per request. */
const periodIsos = new Map<number, string>();
const MAX_PERIOD_ISOS = 1_000;

function periodIso(ms: number): string {
  let iso = periodIsos.get(ms);
  if (iso === undefined) {
    if (periodIsos.size >= MAX_PERIOD_ISOS) periodIsos.clear();
    iso = new Date(ms).toISOString();
    periodIsos.set(ms, iso);
  }
  return iso;
}

/** Writes encoded usage events idempotently (unique request id); resolves with how many were new. */
export type LedgerSink = (events: readonly string[]) => Promise<number>;

/** Where settled usage goes until it is in the database. */
export interface LedgerPipeline {
  start(): void;
  /** Flushes what it holds (as far as the database lets it) and stops. */
  stop(): Promise<void>;
  /** Usage events not yet in the database. */
  pending(): Promise<number>;
}
