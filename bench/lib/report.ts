// Rows, their comparisons (against direct, against the plain proxy, against Portkey, all within
// the same scenario and repetition), the per-scenario summaries over repetitions, and the files.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadResult } from './load.js';
import { type Spread, spread } from './stats.js';
import { ENFORCING, TARGETS, type Target } from './targets.js';

export interface Comparison {
  /** This row's req/s divided by the baseline's. */
  throughputRatio: number;
  addedP50Ms: number;
  addedP99Ms: number;
}

export interface VsPlain extends Comparison {
  /** Gateway CPU µs per request minus the plain proxy's; null when either was not measurable. */
  addedCpuUsPerRequest: number | null;
}

/** Streamed scenario: time to first byte and gaps between paced chunks, minus direct's. */
export interface StreamComparison {
  addedTtfbP50Ms: number;
  addedTtfbP99Ms: number;
  addedGapP50Ms: number;
  addedGapP99Ms: number;
}

export interface Row extends LoadResult {
  scenario: string;
  target: Target;
  rep: number;
  /** Closed loop: requests in flight; open loop: null. */
  concurrency: number | null;
  /** Open loop only. */
  offeredRps?: number;
  dropped?: number;
  /** CPU (user + system) of the target process per measured request, in µs; null for direct. */
  gatewayCpuUsPerRequest: number | null;
  /** CPU of the simulator per measured request, in µs (it serves every target). */
  simCpuUsPerRequest: number | null;
  /**
   * redis only: CPU of the Redis server and every PostgreSQL process per measured request, in µs
   * (what the target's stores spend for it, outside its own process); null for the others.
   */
  storeCpuUsPerRequest: number | null;
  vsDirect?: Comparison;
  vsPlain?: VsPlain;
  /** plain, embedded, redis: against Portkey (ratio > 1: faster; added < 0: lower latency). */
  vsPortkey?: Comparison;
  streamVsDirect?: StreamComparison;
}

/** (Re)computes the comparisons wherever the baseline row of the same scenario and rep exists. */
export function addRatios(rows: Row[]): void {
  const find = (target: Target, row: Row): Row | undefined => rows.find((r) => r.target === target && r.scenario === row.scenario && r.rep === row.rep);
  for (const row of rows) {
    const direct = row.target === 'direct' ? undefined : find('direct', row);
    if (direct) row.vsDirect = compare(row, direct);
    if (direct?.stream && row.stream) {
      row.streamVsDirect = {
        addedTtfbP50Ms: row.stream.ttfb.p50Ms - direct.stream.ttfb.p50Ms,
        addedTtfbP99Ms: row.stream.ttfb.p99Ms - direct.stream.ttfb.p99Ms,
        addedGapP50Ms: row.stream.gap.p50Ms - direct.stream.gap.p50Ms,
        addedGapP99Ms: row.stream.gap.p99Ms - direct.stream.gap.p99Ms,
      };
    }
    const plain = ENFORCING.includes(row.target) ? find('plain', row) : undefined;
    if (plain) {
      const a = row.gatewayCpuUsPerRequest;
      const b = plain.gatewayCpuUsPerRequest;
      row.vsPlain = { ...compare(row, plain), addedCpuUsPerRequest: a === null || b === null ? null : a - b };
    }
    const peer = row.target === 'direct' || row.target === 'portkey' ? undefined : find('portkey', row);
    if (peer) row.vsPortkey = compare(row, peer);
  }
}

function compare(row: Row, base: Row): Comparison {
  return { throughputRatio: row.rps / base.rps, addedP50Ms: row.p50Ms - base.p50Ms, addedP99Ms: row.p99Ms - base.p99Ms };
}

/** Every figure the tables show, read off a row; undefined/null when the row does not have it. */
export const MEASURES = {
  rps: (r: Row) => r.rps,
  p50: (r: Row) => r.p50Ms,
  p90: (r: Row) => r.p90Ms,
  p99: (r: Row) => r.p99Ms,
  cpu: (r: Row) => r.gatewayCpuUsPerRequest,
  storeCpu: (r: Row) => r.storeCpuUsPerRequest,
  xDirect: (r: Row) => r.vsDirect?.throughputRatio,
  addedP50: (r: Row) => r.vsDirect?.addedP50Ms,
  addedP99: (r: Row) => r.vsDirect?.addedP99Ms,
  xPortkey: (r: Row) => r.vsPortkey?.throughputRatio,
  xPlain: (r: Row) => r.vsPlain?.throughputRatio,
  plainAddedP50: (r: Row) => r.vsPlain?.addedP50Ms,
  plainAddedP99: (r: Row) => r.vsPlain?.addedP99Ms,
  plainAddedCpu: (r: Row) => r.vsPlain?.addedCpuUsPerRequest,
  ttfbP50: (r: Row) => r.stream?.ttfb.p50Ms,
  ttfbP99: (r: Row) => r.stream?.ttfb.p99Ms,
  gapP50: (r: Row) => r.stream?.gap.p50Ms,
  gapP99: (r: Row) => r.stream?.gap.p99Ms,
  addedTtfbP50: (r: Row) => r.streamVsDirect?.addedTtfbP50Ms,
  addedTtfbP99: (r: Row) => r.streamVsDirect?.addedTtfbP99Ms,
  addedGapP50: (r: Row) => r.streamVsDirect?.addedGapP50Ms,
  addedGapP99: (r: Row) => r.streamVsDirect?.addedGapP99Ms,
} satisfies Record<string, (r: Row) => number | null | undefined>;
export type Measure = keyof typeof MEASURES;

/** One (scenario, target) over all repetitions: each measure's median and range. */
export interface Summary {
  scenario: string;
  target: Target;
  concurrency: number | null;
  offeredRps?: number;
  requests: number;
  errors: number;
  dropped: number;
  spreads: Record<Measure, Spread>;
}

export function summarize(rows: readonly Row[]): Summary[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.scenario}\u0000${r.target}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()]
    .map((group): Summary => {
      const first = group[0]!;
      const spreads = Object.fromEntries(Object.entries(MEASURES).map(([name, read]) => [name, spread(group.map(read))])) as Record<Measure, Spread>;
      return {
        scenario: first.scenario,
        target: first.target,
        concurrency: first.concurrency,
        ...(first.offeredRps === undefined ? {} : { offeredRps: first.offeredRps }),
        requests: group.reduce((a, r) => a + r.requests, 0),
        errors: group.reduce((a, r) => a + r.errors, 0),
        dropped: group.reduce((a, r) => a + (r.dropped ?? 0), 0),
        spreads,
      };
    })
    .sort((a, b) => TARGETS.indexOf(a.target) - TARGETS.indexOf(b.target));
}

/** Writes `<dir>/<name>.json` and `<dir>/<name>.md` (via a .tmp file and rename); returns the paths. */
export async function writeResults(dir: string, name: string, json: unknown, md: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`],
    [join(dir, `${name}.md`), `${md}\n`],
  ];
  for (const [path, content] of files) {
    await writeFile(`${path}.tmp`, content);
    await rename(`${path}.tmp`, path);
  }
  return files.map(([path]) => path);
}
