import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { USAGE_EVENT_COLUMNS, encodeUsage, type UsageRecord } from '../../src/ledger/usage-event.js';

const SOURCES = ['response_header', 'stream_usage', 'price_table', 'estimate'] as const;

/**
 * Text as PostgreSQL can hold it: no NUL, no lone surrogate; each becomes U+FFFD. Written here
 * with the engine's own `toWellFormed` (ES2024), not the regular expressions the encoder uses.
 */
function storable(s: string | null): string | null {
  return s === null ? null : (s as unknown as { toWellFormed(): string }).toWellFormed().replaceAll('\u0000', '\ufffd');
}

/** What the ledger's `json_to_recordset` reads: the record keyed by column name, made storable. */
function reference(r: UsageRecord): unknown {
  return {
    request_id: r.requestId,
    client_request_id: storable(r.clientRequestId),
    tenant_id: storable(r.tenantId),
    key_id: storable(r.keyId),
    model: storable(r.model),
    endpoint: storable(r.endpoint),
    status: r.status,
    prompt_tokens: Math.min(r.promptTokens, 2 ** 31 - 1),
    completion_tokens: Math.min(r.completionTokens, 2 ** 31 - 1),
    cost_micros: r.costMicros,
    cost_source: r.costSource,
    period_started_at: new Date(r.periodStartedAtMs).toISOString(),
    created_at: new Date(r.createdAtMs).toISOString(),
  };
}

const epochMs = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) });
/** Any UTF-16: paired and lone surrogates, NUL and other control characters among the rest. */
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udc00', '\ud83d', '\ude00', 'a', '"', '\\') }));
const tokens = fc.oneof(fc.nat(), fc.integer({ min: 2 ** 31 - 2, max: Number.MAX_SAFE_INTEGER }));

describe('a usage event as it travels to the ledger', () => {
  it('is exactly the JSON of the record keyed by column name, whatever the strings hold, made storable', () => {
    fc.assert(
      fc.property(
        fc.record({
          requestId: fc.uuid(),
          // Client-supplied: quotes, backslashes, control characters and any Unicode must survive;
          // NUL and lone surrogates (PostgreSQL's text holds neither) become U+FFFD.
          clientRequestId: fc.option(text, { nil: null }),
          tenantId: text,
          keyId: fc.option(fc.string(), { nil: null }),
          model: fc.option(text, { nil: null }),
          endpoint: fc.string(),
          status: fc.integer({ min: 100, max: 599 }),
          // An upstream's counts, past PostgreSQL's integer too.
          promptTokens: tokens,
          completionTokens: tokens,
          costMicros: fc.maxSafeNat(),
          costSource: fc.constantFrom(...SOURCES),
          periodStartedAtMs: epochMs,
          createdAtMs: epochMs,
        }),
        (record) => {
          const encoded = encodeUsage(record);
          // The ledger's INSERT and COPY name their columns from this list, in this order.
          expect(Object.keys(JSON.parse(encoded))).toEqual([...USAGE_EVENT_COLUMNS]);
          expect(JSON.parse(encoded)).toEqual(reference(record));
          expect(encoded).toBe(JSON.stringify(reference(record)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives each of two records settled in the same millisecond, and in the next, its own time', () => {
    const base: UsageRecord = { requestId: '00000000-0000-4000-8000-000000000000', clientRequestId: null, tenantId: 't', keyId: null, model: null, endpoint: '/v1/chat/completions', status: 200, promptTokens: 1, completionTokens: 2, costMicros: 3, costSource: 'estimate', periodStartedAtMs: 0, createdAtMs: 1_000 };
    const times = [1_000, 1_000, 1_001, 1_000].map((ms) => JSON.parse(encodeUsage({ ...base, createdAtMs: ms })).created_at);
    expect(times).toEqual(['1970-01-01T00:00:01.000Z', '1970-01-01T00:00:01.000Z', '1970-01-01T00:00:01.001Z', '1970-01-01T00:00:01.000Z']);
  });

  it('writes the time of records settled close together, within a second and across seconds, days and years, as toISOString does', () => {
    const base: UsageRecord = { requestId: '00000000-0000-4000-8000-000000000000', clientRequestId: null, tenantId: 't', keyId: null, model: null, endpoint: '/v1/chat/completions', status: 200, promptTokens: 1, completionTokens: 2, costMicros: 3, costSource: 'estimate', periodStartedAtMs: 0, createdAtMs: 0 };
    const start = fc.constantFrom(0, 999, Date.UTC(2026, 11, 31, 23, 59, 59, 990), Date.UTC(2028, 1, 28, 23, 59, 59, 500)).chain((at) => fc.integer({ min: at, max: at + 50 }));
    fc.assert(
      fc.property(start, fc.array(fc.integer({ min: -3, max: 30 }), { maxLength: 40 }), (first, steps) => {
        let ms = first;
        for (const step of [0, ...steps]) {
          ms = Math.max(0, ms + step);
          expect(JSON.parse(encodeUsage({ ...base, createdAtMs: ms })).created_at).toBe(new Date(ms).toISOString());
          // A clock with fractions of a millisecond: the Date's whole milliseconds.
          expect(JSON.parse(encodeUsage({ ...base, createdAtMs: ms + 0.75 })).created_at).toBe(new Date(ms + 0.75).toISOString());
        }
      }),
      { numRuns: 500 },
    );
  });
});
