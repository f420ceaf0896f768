// The results page (bench/results/<date>.md): headline, targets, then one table per scenario,
// the cost of enforcement against the plain proxy, and memory.

import { checksMarkdown, headlineTable, type TargetCheck } from './headline.js';
import type { Summary } from './report.js';
import type { Scenario } from './scenarios.js';
import { type MemoryRow, cell, closedLoopTable, enforcementTable, fixed, memoryTable, openLoopTable, streamTable, table, whole } from './tables.js';

export interface Page {
  title: string;
  preamble: string;
  scenarios: readonly Scenario[];
  summaries: readonly Summary[];
  memory: readonly MemoryRow[];
  /** The run after which the leak check's base point was taken ("rep 2 c64"). */
  memoryBase: string;
  checks: readonly TargetCheck[];
  ids: { c1: string; c64: string; stream: string };
  repeat: number;
}

export function page(p: Page): string {
  const of = (id: string): Summary[] => p.summaries.filter((s) => s.scenario === id);
  const spreadNote = p.repeat > 1 ? `Cells read median (min–max) over ${p.repeat} repetitions.` : 'One repetition: no spread.';
  const parts = [
    `# ${p.title}`,
    p.preamble,
    `## Headline\n\n${spreadNote} "added" is against direct (the simulator alone) in the same repetition; "÷ Portkey" is throughput against the Portkey gateway in the same repetition.\n\n${headlineTable(p.summaries, p.memory, p.ids)}`,
    `## Targets\n\n${checksMarkdown(p.checks)}`,
  ];
  for (const s of p.scenarios) {
    const rows = of(s.id);
    if (rows.length === 0) continue;
    let body: string;
    if (s.group === 'rate') body = openLoopTable(rows);
    else if (s.group === 'stream') body = streamTable(rows);
    else if (s.group === 'tenants') body = `${closedLoopTable(rows)}\n\n${tenantsVsOneKey(rows, p.summaries, s.concurrency)}`;
    else body = `${closedLoopTable(rows)}${s.group === 'body' ? `\n\n${throughputMb(rows, s.body.length)}` : ''}`;
    const enforcement = enforcementTable(rows);
    const cost = enforcement === '' ? '' : `\n\nCost of enforcement against plain (the same proxy, budgets stubbed out):\n\n${enforcement}`;
    parts.push(`## ${s.title}\n\n${body.trimEnd()}${cost}`);
  }
  parts.push(
    `## Memory\n\nMB of each process. Base of our gateways: right after the first repetition and 10,000 more small chat requests ` +
      `at concurrency 64; end: right after the last repetition and the soak (small chat requests at concurrency 64, at least 10,000, ` +
      `until the requests since the base reach the soak count), so both points follow the same runs. Portkey is not soaked: its base ` +
      `is right after the ${p.memoryBase.replace(/^rep (\d+) (\S+)$/, '$2 run of repetition $1')}, its end its last run. At both points the process is also made to run a full GC ` +
      `(bench/lib/heap-probe.mjs) and its RSS, live JS heap and external memory are read after it; growth compares RSS after GC. ` +
      `Peak: the kernel's high-water mark (VmHWM) since the end of the warm-up.\n\n${memoryTable(p.memory)}`,
  );
  return `${parts.join('\n\n')}\n`;
}

/** Large bodies: what req/s means in request bytes per second. */
function throughputMb(rows: readonly Summary[], bytes: number): string {
  return table(
    ['target', 'request MB/s'],
    rows.map((s) => [s.target, cell(s.spreads.rps, (n) => ((n * bytes) / 1024 / 1024).toFixed(1))]),
  );
}

/** Many keys against one key at the same concurrency: does the cache hold? */
function tenantsVsOneKey(rows: readonly Summary[], all: readonly Summary[], concurrency: number | undefined): string {
  const one = (target: string): Summary | undefined => all.find((s) => s.scenario === `c${concurrency}` && s.target === target);
  const body = rows
    .map((s) => {
      const base = one(s.target);
      if (!base) return undefined;
      const ratio = s.spreads.rps.median / base.spreads.rps.median;
      return [s.target, whole(base.spreads.rps.median), whole(s.spreads.rps.median), fixed(3)(ratio), fixed(2, true)(s.spreads.p99.median - base.spreads.p99.median)];
    })
    .filter((r): r is string[] => r !== undefined);
  if (body.length === 0) return '';
  return `Against the same target with one key at concurrency ${concurrency} (medians):\n\n${table(['target', 'one key req/s', 'many keys req/s', 'ratio', 'p99 difference ms'], body)}`;
}
