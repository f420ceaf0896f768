// Markdown tables of the per-scenario summaries and of memory. A cell with a range reads
// "median (min–max)" over the repetitions; a single repetition shows the value alone.

import type { Measure, Summary } from './report.js';
import type { HeapView } from './rss.js';
import type { Spread } from './stats.js';

export type Format = (n: number) => string;
export const fixed =
  (digits: number, sign = false): Format =>
  (n) =>
    `${sign && n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
export const whole: Format = (n) => Math.round(n).toString();
export const times: Format = (n) => `${n.toFixed(n >= 10 ? 1 : 2)}x`;

/** "median (min–max)", or the median alone when `range` is off or there was one repetition. */
export function cell(s: Spread | undefined, format: Format, range = true): string {
  if (s === undefined || s.n === 0) return '—';
  if (!range || s.n === 1 || format(s.min) === format(s.max)) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

/** Columns from `leftColumns` on are right-aligned (numbers); the ones before are text. */
export function table(header: readonly string[], body: readonly (readonly string[])[], leftColumns = 1): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, i) => (i < leftColumns ? '---' : '---:'));
  return [line(header), line(rule), ...body.map(line)].join('\n');
}

type Column = [title: string, measure: Measure, format: Format, range?: boolean];

function columns(rows: readonly Summary[], cols: readonly Column[], lead: (s: Summary) => string[] = (s) => [s.target], leadTitles = ['target']): string {
  return table(
    [...leadTitles, ...cols.map(([title]) => title), 'errors'],
    rows.map((s) => [...lead(s), ...cols.map(([, m, f, r]) => cell(s.spreads[m], f, r)), s.errors === 0 ? '0' : `${s.errors}${s.dropped > 0 ? ` (${s.dropped} dropped)` : ''}`]),
  );
}

const ms2 = fixed(2);
const added = fixed(2, true);

export function closedLoopTable(rows: readonly Summary[]): string {
  return columns(rows, [
    ['req/s', 'rps', whole],
    ['p50 ms', 'p50', ms2, false],
    ['p90 ms', 'p90', ms2, false],
    ['p99 ms', 'p99', ms2],
    ['CPU µs/req', 'cpu', whole],
    ['÷ direct', 'xDirect', fixed(3)],
    ['added p50 ms', 'addedP50', added],
    ['added p99 ms', 'addedP99', added],
    ['÷ Portkey', 'xPortkey', times],
  ]);
}

/** Empty when no row has a plain baseline. */
export function enforcementTable(rows: readonly Summary[]): string {
  const enforcing = rows.filter((s) => s.spreads.xPlain.n > 0);
  if (enforcing.length === 0) return '';
  return columns(
    enforcing,
    [
      ['req/s ÷ plain', 'xPlain', fixed(3)],
      ['added p50 ms', 'plainAddedP50', added],
      ['added p99 ms', 'plainAddedP99', added],
      ['added CPU µs/req', 'plainAddedCpu', (n) => `${n >= 0 ? '+' : ''}${Math.round(n)}`],
      ['Redis + PostgreSQL CPU µs/req', 'storeCpu', whole],
    ],
  );
}

export function openLoopTable(rows: readonly Summary[]): string {
  return columns(rows, [
    ['achieved req/s', 'rps', whole],
    ['p50 ms', 'p50', ms2, false],
    ['p90 ms', 'p90', ms2, false],
    ['p99 ms', 'p99', ms2],
    ['CPU µs/req', 'cpu', whole],
    ['added p50 ms', 'addedP50', added],
    ['added p99 ms', 'addedP99', added],
  ]);
}

export function streamTable(rows: readonly Summary[]): string {
  return columns(rows, [
    ['streams/s', 'rps', whole],
    ['TTFB p50 ms', 'ttfbP50', ms2, false],
    ['TTFB p99 ms', 'ttfbP99', ms2],
    ['chunk gap p50 ms', 'gapP50', ms2, false],
    ['chunk gap p99 ms', 'gapP99', ms2],
    ['added TTFB p50', 'addedTtfbP50', added],
    ['added TTFB p99', 'addedTtfbP99', added],
    ['added chunk delay p50', 'addedGapP50', added],
    ['added chunk delay p99', 'addedGapP99', added],
    ['CPU µs/stream', 'cpu', whole],
  ]);
}

export interface MemoryRow {
  target: string;
  afterWarmupMb: number | null;
  /** RSS as sampled right after the base run and right after the soak. */
  baseMb: number | null;
  endMb: number | null;
  /** Requests served between the base and the end point. */
  servedBetween: number;
  growthPercent: number | null;
  /** Growth compares RSS after a full GC at both points (else RSS as sampled). */
  growthAfterGc: boolean;
  peakMb: number | null;
  /** The peak counts from the end of the warm-up (else from the process start). */
  peakSinceWarmup: boolean;
  /** Memory after a full GC at the two points, where the process has the heap probe. */
  baseHeap: HeapView | null;
  endHeap: HeapView | null;
}

export function memoryTable(rows: readonly MemoryRow[]): string {
  const mb = (n: number | null | undefined): string => (n == null ? '—' : n.toFixed(1));
  const pair = (a: number | null | undefined, b: number | null | undefined): string => (a == null || b == null ? '—' : `${mb(a)} → ${mb(b)}`);
  return table(
    ['target', 'RSS after warm-up', 'RSS base → end', 'after full GC: RSS base → end', 'live JS heap base → end', 'external base → end', 'requests between', 'growth', 'peak RSS'],
    rows.map((r) => [
      r.target,
      mb(r.afterWarmupMb),
      pair(r.baseMb, r.endMb),
      pair(r.baseHeap && r.baseHeap.rssKb / 1024, r.endHeap && r.endHeap.rssKb / 1024),
      pair(r.baseHeap?.heapUsedMb, r.endHeap?.heapUsedMb),
      pair(r.baseHeap?.externalMb, r.endHeap?.externalMb),
      r.servedBetween.toLocaleString('en-US'),
      r.growthPercent === null ? '—' : `${r.growthPercent >= 0 ? '+' : ''}${r.growthPercent.toFixed(1)} %${r.growthAfterGc ? '' : ' (as sampled)'}`,
      `${mb(r.peakMb)}${r.peakSinceWarmup ? '' : ' (since start)'}`,
    ]),
  );
}
