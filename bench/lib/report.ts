// Rows, ratios against the direct target, the Markdown table and the results files.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadResult } from './load.js';

export type Target = 'direct' | 'gateway';

export interface Row extends LoadResult {
  target: Target;
  concurrency: number;
  rep: number;
  /** Gateway rows only: compared with the direct row of the same concurrency and repetition. */
  vsDirect?: { throughputRatio: number; addedP50Ms: number; addedP99Ms: number };
}

/** Fills `vsDirect` on every gateway row that has a direct row with the same concurrency and rep. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.target !== 'gateway') continue;
    const direct = rows.find((r) => r.target === 'direct' && r.concurrency === row.concurrency && r.rep === row.rep);
    if (direct === undefined) continue;
    row.vsDirect = compare(row, direct);
  }
}

function compare(gateway: Pick<Row, 'rps' | 'p50Ms' | 'p99Ms'>, direct: Pick<Row, 'rps' | 'p50Ms' | 'p99Ms'>): Row['vsDirect'] {
  return {
    throughputRatio: gateway.rps / direct.rps,
    addedP50Ms: gateway.p50Ms - direct.p50Ms,
    addedP99Ms: gateway.p99Ms - direct.p99Ms,
  };
}

const ms = (n: number): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(2));
const signedMs = (n: number): string => (Number.isNaN(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(2)}`);
const rps = (n: number): string => Math.round(n).toString();
const errs = (r: Pick<Row, 'errors' | 'requests' | 'errorRate'>): string =>
  r.errors === 0 ? '0' : `${r.errors} (${(r.errorRate * 100).toFixed(2)}%)`;

/** `rows` lets a direct row that ran after its gateway row show the pair's ratios too. */
export function progressLine(row: Row, repeat: number, rows: readonly Row[] = []): string {
  const base =
    `[bench] ${row.target} c=${row.concurrency} rep ${row.rep}/${repeat}: ${rps(row.rps)} req/s ` +
    `p50 ${ms(row.p50Ms)} ms p90 ${ms(row.p90Ms)} ms p99 ${ms(row.p99Ms)} ms errors ${errs(row)}`;
  const v =
    row.vsDirect ?? rows.find((r) => r.target === 'gateway' && r.concurrency === row.concurrency && r.rep === row.rep)?.vsDirect;
  const ratio = v === undefined ? '' : ` | gateway/direct ${v.throughputRatio.toFixed(2)}x, p50 ${signedMs(v.addedP50Ms)} ms, p99 ${signedMs(v.addedP99Ms)} ms`;
  const samples = row.errorSamples.length > 0 ? ` [${row.errorSamples.join('; ')}]` : '';
  return base + ratio + samples;
}

/** One row per run; with more than one repetition a `rep` column and a median summary table are added. */
export function markdown(rows: Row[], repeat: number): string {
  const withRep = repeat > 1;
  const header = [
    ...(withRep ? ['rep'] : []),
    'target',
    'concurrency',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'errors',
    'gateway/direct req/s',
    'added p50 ms',
    'added p99 ms',
  ];
  const sorted = [...rows].sort((a, b) => a.rep - b.rep || a.concurrency - b.concurrency || a.target.localeCompare(b.target));
  const body = sorted.map((r) => [
    ...(withRep ? [String(r.rep)] : []),
    r.target,
    String(r.concurrency),
    rps(r.rps),
    ms(r.p50Ms),
    ms(r.p90Ms),
    ms(r.p99Ms),
    errs(r),
    ...ratioCells(r.vsDirect),
  ]);
  let out = table(header, body);
  if (withRep) out += `\n\nMedian over ${repeat} repetitions (ratios are medians of the per-repetition ratios):\n\n${medianTable(rows)}`;
  return out;
}

function ratioCells(v: Row['vsDirect']): string[] {
  return v === undefined ? ['—', '—', '—'] : [`${v.throughputRatio.toFixed(3)}`, signedMs(v.addedP50Ms), signedMs(v.addedP99Ms)];
}

function medianTable(rows: Row[]): string {
  const header = ['target', 'concurrency', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'gateway/direct req/s', 'added p50 ms', 'added p99 ms'];
  const keys = [...new Set(rows.map((r) => `${r.concurrency}\u0000${r.target}`))]
    .map((k) => {
      const [c, t] = k.split('\u0000');
      return { concurrency: Number(c), target: t as Target };
    })
    .sort((a, b) => a.concurrency - b.concurrency || a.target.localeCompare(b.target));
  const body = keys.map(({ concurrency, target }) => {
    const group = rows.filter((r) => r.concurrency === concurrency && r.target === target);
    const m = (f: (r: Row) => number): number => median(group.map(f));
    const ratios = group.flatMap((r) => (r.vsDirect === undefined ? [] : [r.vsDirect]));
    const v =
      ratios.length === 0
        ? undefined
        : {
            throughputRatio: median(ratios.map((x) => x.throughputRatio)),
            addedP50Ms: median(ratios.map((x) => x.addedP50Ms)),
            addedP99Ms: median(ratios.map((x) => x.addedP99Ms)),
          };
    const errors = group.reduce((a, r) => a + r.errors, 0);
    const requests = group.reduce((a, r) => a + r.requests, 0);
    return [
      target,
      String(concurrency),
      rps(m((r) => r.rps)),
      ms(m((r) => r.p50Ms)),
      ms(m((r) => r.p90Ms)),
      ms(m((r) => r.p99Ms)),
      errs({ errors, requests, errorRate: requests === 0 ? 0 : errors / requests }),
      ...ratioCells(v),
    ];
  });
  return table(header, body);
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
