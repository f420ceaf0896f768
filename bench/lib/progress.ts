// One progress line per finished run.

import type { Comparison, Row } from './report.js';

const ms = (n: number): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(2));
const signed = (n: number): string => (Number.isNaN(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(2)}`);

export function progressLine(row: Row, repeat: number): string {
  const errors = row.errors === 0 ? '0' : `${row.errors} (${(row.errorRate * 100).toFixed(2)}%)`;
  const cpu = row.gatewayCpuUsPerRequest === null ? '' : `, CPU ${Math.round(row.gatewayCpuUsPerRequest)} µs/req`;
  const offered = row.offeredRps === undefined ? '' : ` (offered ${row.offeredRps})`;
  const stream = row.stream
    ? `, TTFB p99 ${ms(row.stream.ttfb.p99Ms)} ms, chunk gap p50 ${ms(row.stream.gap.p50Ms)} p99 ${ms(row.stream.gap.p99Ms)} ms` +
      (row.streamVsDirect ? ` (added ${signed(row.streamVsDirect.addedTtfbP99Ms)} / ${signed(row.streamVsDirect.addedGapP99Ms)})` : '')
    : '';
  const vs = (name: string, v: Comparison | undefined): string =>
    v === undefined ? '' : ` | /${name} ${v.throughputRatio.toFixed(name === 'portkey' ? 2 : 3)}x, p50 ${signed(v.addedP50Ms)}, p99 ${signed(v.addedP99Ms)} ms`;
  const samples = row.errorSamples.length > 0 ? ` [${row.errorSamples.join('; ')}]` : '';
  return (
    `rep ${row.rep}/${repeat} ${row.scenario} ${row.target}: ${Math.round(row.rps)} req/s${offered} ` +
    `p50 ${ms(row.p50Ms)} p90 ${ms(row.p90Ms)} p99 ${ms(row.p99Ms)} ms, errors ${errors}${cpu}${stream}` +
    vs('direct', row.vsDirect) +
    vs('portkey', row.vsPortkey) +
    samples
  );
}
