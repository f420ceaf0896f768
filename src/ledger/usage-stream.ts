/**
 * Where settled usage waits in Redis for the ledger consumer (README, "Where the numbers live").
 *
 * - `stream`: one entry per settle script, holding the usage events of every request it settled,
 *   one `e` field each (a few under light load, a few dozen under heavy load).
 * - `count`: how many events `stream` holds, kept by the scripts that add and delete entries (an
 *   entry's length is not its events', so `XLEN` cannot say).
 * - `legacy`: the stream of versions before, one event per entry. Still read, so that during a
 *   rolling upgrade nothing the older replicas settle is left behind; they never read `stream`,
 *   whose entries they would take for a single event.
 */
export interface UsageStreams {
  readonly stream: string;
  readonly count: string;
  readonly legacy: string;
}

export function usageStreams(prefix: string): UsageStreams {
  return { stream: `${prefix}usage:batches`, count: `${prefix}usage:batches:events`, legacy: `${prefix}usage` };
}

/**
 * The usage events of one stream entry: every field's value, whatever its name, so that nothing
 * in the stream is dropped unseen (what is not a usage event is set aside by the ledger's sink).
 */
export function eventsOf(fields: readonly string[]): string[] {
  const events: string[] = [];
  for (let i = 1; i < fields.length; i += 2) events.push(fields[i]!);
  return events;
}
