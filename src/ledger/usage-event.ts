/**
 * One request's usage as it travels from settle to the ledger table: serialized into the store's
 * atomic settle step (a Redis Stream entry, or the in-process queue), decoded by the writer.
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
  readonly periodStartedAt: Date;
  readonly createdAt: Date;
}

export type CostSource = 'response_header' | 'stream_usage' | 'price_table' | 'estimate';

export function encodeUsage(record: UsageRecord): string {
  return JSON.stringify(record);
}

export function decodeUsage(text: string): UsageRecord {
  const raw = JSON.parse(text) as Omit<UsageRecord, 'periodStartedAt' | 'createdAt'> & { periodStartedAt: string; createdAt: string };
  return { ...raw, periodStartedAt: new Date(raw.periodStartedAt), createdAt: new Date(raw.createdAt) };
}

/** Writes a batch idempotently (unique request id); resolves with how many rows were new. */
export type LedgerSink = (records: readonly UsageRecord[]) => Promise<number>;

/** Where settled usage goes until it is in the database. */
export interface LedgerPipeline {
  start(): void;
  /** Flushes what it holds (as far as the database lets it) and stops. */
  stop(): Promise<void>;
  /** Usage events not yet in the database. */
  pending(): Promise<number>;
}
