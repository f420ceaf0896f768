// Rows, ratios against the direct and the plain target, the Markdown tables and the results files.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadResult } from './load.js';

/** In run order: the upstream alone, the proxy without budgets, then the two enforcing set-ups. */
export const TARGETS = ['direct', 'plain', 'embedded', 'redis'] as const;
export type Target = (typeof TARGETS)[number];
const ENFORCING: readonly Target[] = ['embedded', 'redis'];

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

export interface Row extends LoadResult {
  target: Target;
  concurrency: number;
  rep: number;
  /** CPU (user + system) of the gateway process per measured request, in µs; null for direct. */
  gatewayCpuUsPerRequest: number | null;
  /** CPU of the simulator per measured request, in µs (it serves every target). */
  simCpuUsPerRequest: number | null;
  /** Every row but direct: against the direct row of the same concurrency and repetition. */
  vsDirect?: Comparison;
  /** embedded and redis rows: against the plain row of the same concurrency and repetition. */
  vsPlain?: VsPlain;
}

/** (Re)computes `vsDirect` and `vsPlain` wherever the baseline row of the same concurrency and rep exists. */
export function addRatios(rows: Row[]): void {
  const find = (target: Target, row: Row): Row | undefined =>
    rows.find((r) => r.target === target && r.concurrency === row.concurrency && r.rep === row.rep);
  for (const row of rows) {
    const direct = row.target === 'direct' ? undefined : find('direct', row);
    if (direct) row.vsDirect = compare(row, direct);
    const plain = ENFORCING.includes(row.target) ? find('plain', row) : undefined;
    if (plain) {
      const a = row.gatewayCpuUsPerRequest;
      const b = plain.gatewayCpuUsPerRequest;
      row.vsPlain = { ...compare(row, plain), addedCpuUsPerRequest: a === null || b === null ? null : a - b };
    }
  }
}

function compare(row: Row, base: Row): Comparison {
  return { throughputRatio: row.rps / base.rps, addedP50Ms: row.p50Ms - base.p50Ms, addedP99Ms: row.p99Ms - base.p99Ms };
}

const ms = (n: number): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(2));
const signed = (n: number | null, digits = 2): string =>
  n === null || Number.isNaN(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
const rps = (n: number): string => Math.round(n).toString();
const us = (n: number | null): string => (n === null || Number.isNaN(n) ? 'n/a' : Math.round(n).toString());
const errs = (r: Pick<Row, 'errors' | 'requests' | 'errorRate'>): string =>
  r.errors === 0 ? '0' : `${r.errors} (${(r.errorRate * 100).toFixed(2)}%)`;

export function progressLine(row: Row, repeat: number): string {
  const cpu = row.target === 'direct' ? '' : `, CPU ${us(row.gatewayCpuUsPerRequest)} µs/req`;
  const base =
    `[bench] ${row.target} c=${row.concurrency} rep ${row.rep}/${repeat}: ${rps(row.rps)} req/s ` +
    `p50 ${ms(row.p50Ms)} ms p90 ${ms(row.p90Ms)} ms p99 ${ms(row.p99Ms)} ms errors ${errs(row)}${cpu}`;
  const vs = (name: string, v: Comparison | undefined): string =>
    v === undefined ? '' : ` | /${name} ${v.throughputRatio.toFixed(2)}x, p50 ${signed(v.addedP50Ms)} ms, p99 ${signed(v.addedP99Ms)} ms`;
  const samples = row.errorSamples.length > 0 ? ` [${row.errorSamples.join('; ')}]` : '';
  return base + vs('direct', row.vsDirect) + vs('plain', row.vsPlain) + samples;
}

/**
 * Two tables: every target against direct (with the gateway's CPU per request), and the cost of
 * enforcement (embedded, redis) against plain. With more than one repetition each row carries its
 * `rep`, and the same two tables follow as medians across repetitions.
 */
export function markdown(rows: Row[], repeat: number): string {
  const withRep = repeat > 1;
  let out = tables(sortRows(rows), withRep);
  if (withRep) out += `\n\n### Median over ${repeat} repetitions (ratios are medians of the per-repetition ratios)\n\n${tables(summarize(rows), false)}`;
  return out;
}

function tables(rows: Row[], withRep: boolean): string {
  const rep = (r: Row): string[] => (withRep ? [String(r.rep)] : []);
  const all = table(
    [...(withRep ? ['rep'] : []), 'target', 'concurrency', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'gateway CPU µs/req', 'req/s ÷ direct', 'added p50 ms', 'added p99 ms'],
    rows.map((r) => [
      ...rep(r),
      r.target,
      String(r.concurrency),
      rps(r.rps),
      ms(r.p50Ms),
      ms(r.p90Ms),
      ms(r.p99Ms),
      errs(r),
      r.target === 'direct' ? '—' : us(r.gatewayCpuUsPerRequest),
      ...(r.vsDirect === undefined ? ['—', '—', '—'] : [r.vsDirect.throughputRatio.toFixed(3), signed(r.vsDirect.addedP50Ms), signed(r.vsDirect.addedP99Ms)]),
    ]),
  );
  const enforcing = rows.filter((r) => r.vsPlain !== undefined);
  if (enforcing.length === 0) return all;
  const cost = table(
    [...(withRep ? ['rep'] : []), 'target', 'concurrency', 'req/s ÷ plain', 'added p50 ms', 'added p99 ms', 'added CPU µs/req'],
    enforcing.map((r) => {
      const v = r.vsPlain!;
      return [...rep(r), r.target, String(r.concurrency), v.throughputRatio.toFixed(3), signed(v.addedP50Ms), signed(v.addedP99Ms), signed(v.addedCpuUsPerRequest, 0)];
    }),
  );
  return `${all}\n\nCost of budget enforcement (against plain, the same proxy with budgets stubbed out):\n\n${cost}`;
}

function sortRows(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => a.rep - b.rep || a.concurrency - b.concurrency || TARGETS.indexOf(a.target) - TARGETS.indexOf(b.target));
}

/** One row per (concurrency, target): medians of every measure and of the per-repetition comparisons. */
export function summarize(rows: readonly Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.concurrency}/${r.target}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out = [...groups.values()].map((group): Row => {
    const m = (f: (r: Row) => number): number => median(group.map(f));
    const errors = group.reduce((a, r) => a + r.errors, 0);
    const requests = group.reduce((a, r) => a + r.requests, 0);
    const plain = group.flatMap((r) => r.vsPlain ?? []);
    const vsPlain = medianComparison(plain);
    return {
      target: group[0]!.target,
      concurrency: group[0]!.concurrency,
      rep: 0,
      requests,
      errors,
      errorRate: requests === 0 ? 1 : errors / requests,
      rps: m((r) => r.rps),
      p50Ms: m((r) => r.p50Ms),
      p90Ms: m((r) => r.p90Ms),
      p99Ms: m((r) => r.p99Ms),
      meanMs: m((r) => r.meanMs),
      elapsedMs: m((r) => r.elapsedMs),
      errorSamples: [...new Set(group.flatMap((r) => r.errorSamples))].slice(0, 5),
      gatewayCpuUsPerRequest: medianOrNull(group.map((r) => r.gatewayCpuUsPerRequest)),
      simCpuUsPerRequest: medianOrNull(group.map((r) => r.simCpuUsPerRequest)),
      vsDirect: medianComparison(group.flatMap((r) => r.vsDirect ?? [])),
      vsPlain: vsPlain && { ...vsPlain, addedCpuUsPerRequest: medianOrNull(plain.map((v) => v.addedCpuUsPerRequest)) },
    };
  });
  return sortRows(out);
}

function medianComparison(cs: readonly Comparison[]): Comparison | undefined {
  if (cs.length === 0) return undefined;
  return {
    throughputRatio: median(cs.map((c) => c.throughputRatio)),
    addedP50Ms: median(cs.map((c) => c.addedP50Ms)),
    addedP99Ms: median(cs.map((c) => c.addedP99Ms)),
  };
}

function medianOrNull(xs: readonly (number | null)[]): number | null {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : median(known);
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function table(header: string[], body: string[][]): string {
  const numeric = (i: number): boolean => i >= header.indexOf('concurrency');
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, i) => (numeric(i) ? '---:' : '---'));
  return [line(header), line(rule), ...body.map(line)].join('\n');
}

/** Writes `<dir>/<date>.json` and `<dir>/<date>.md` (via a .tmp file and rename); returns the paths. */
export async function writeResults(dir: string, date: string, json: unknown, md: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [join(dir, `${date}.json`), `${JSON.stringify(json, null, 2)}\n`],
    [join(dir, `${date}.md`), `${md}\n`],
  ];
  for (const [path, content] of files) {
    await writeFile(`${path}.tmp`, content);
    await rename(`${path}.tmp`, path);
  }
  return files.map(([path]) => path);
}
