// The headline: each gateway against direct (the physical limit) and against Portkey (the peer),
// with the spread over repetitions, and the issue's targets checked one by one.

import { PRODUCT } from './leak-check.js';
import type { Measure, Summary } from './report.js';
import type { Spread } from './stats.js';
import { type Format, type MemoryRow, cell, fixed, table, times, whole } from './tables.js';
import { ENFORCING, TARGETS, type Target } from './targets.js';

export interface TargetCheck {
  goal: string;
  target: string;
  /** The median, and the range over repetitions. */
  value: Spread | null;
  shown: string;
  met: boolean | null;
  /** A target that is not ours to judge (the bare Node proxy, the plain proxy): the goal's reach on this machine. */
  reference?: boolean;
}

/** Scenario ids of the headline columns: the lowest and highest concurrency, the stream. */
export interface Ids {
  c1: string;
  c64: string;
  stream: string;
}

const find = (all: readonly Summary[], scenario: string, target: string): Summary | undefined =>
  all.find((s) => s.scenario === scenario && s.target === target);

export function headlineTable(all: readonly Summary[], memory: readonly MemoryRow[], ids: Ids): string {
  const at = (scenario: string, m: Measure, f: Format) => (target: string) => cell(find(all, scenario, target)?.spreads[m], f);
  const added = fixed(2, true);
  const [lo, hi] = [ids.c1.replace(/^c/, 'c='), ids.c64.replace(/^c/, 'c=')];
  const cols: [string, (t: string) => string][] = [
    [`${lo} added p50 ms`, at(ids.c1, 'addedP50', added)],
    [`${lo} added p99 ms`, at(ids.c1, 'addedP99', added)],
    [`${hi} req/s`, at(ids.c64, 'rps', whole)],
    [`${hi} ÷ direct`, at(ids.c64, 'xDirect', fixed(3))],
    [`${hi} ÷ Portkey`, at(ids.c64, 'xPortkey', times)],
    [`${hi} CPU µs/req`, at(ids.c64, 'cpu', whole)],
    ['stream: added TTFB p99 ms', at(ids.stream, 'addedTtfbP99', added)],
    ['stream: added chunk delay p99 ms', at(ids.stream, 'addedGapP99', added)],
    ['RSS growth', (t) => growth(memory.find((m) => m.target === t))],
    ['peak RSS MB', (t) => peak(memory.find((m) => m.target === t))],
  ];
  const shown = TARGETS.filter((t) => all.some((s) => s.target === t));
  return table(
    ['target', ...cols.map(([title]) => title)],
    shown.map((t) => [t, ...cols.map(([, read]) => read(t))]),
  );
}

const growth = (m: MemoryRow | undefined): string =>
  m?.growthPercent == null ? '—' : `${m.growthPercent >= 0 ? '+' : ''}${m.growthPercent.toFixed(1)} % over ${Math.round(m.servedBetween / 1000)}k req`;
const peak = (m: MemoryRow | undefined): string => (m?.peakMb == null ? '—' : m.peakMb.toFixed(0));

/** The issue's targets for the enforcing gateways (and RSS for every product gateway). */
export function checkTargets(all: readonly Summary[], memory: readonly MemoryRow[], ids: Ids, soakRequests: number): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const spreadCheck = (goal: string, target: string, scenario: string, m: Measure, ok: (x: number) => boolean, f: Format, reference = false): void => {
    const s = find(all, scenario, target)?.spreads[m];
    const value = s && s.n > 0 ? s : null;
    checks.push({ goal, target, value, shown: cell(value ?? undefined, f), met: value === null ? null : ok(value.median), reference });
  };
  const goals: [string, string, Measure, (x: number) => boolean, Format][] = [
    ['added p99 below 1 ms at concurrency 1', ids.c1, 'addedP99', (x) => x < 1, fixed(2, true)],
    ['at least 5x Portkey throughput at concurrency 64', ids.c64, 'xPortkey', (x) => x >= 5, times],
    ['at least 35 % of direct throughput at concurrency 64', ids.c64, 'xDirect', (x) => x >= 0.35, fixed(3)],
    ['streamed chunks delayed under 1 ms at p99', ids.stream, 'addedGapP99', (x) => x < 1, fixed(2, true)],
  ];
  for (const [goal, scenario, m, ok, f] of goals) {
    for (const t of ENFORCING) if (all.some((s) => s.target === t)) spreadCheck(goal, t, scenario, m, ok, f);
    // What the same goal asks of a proxy with no budgets (plain) and of any Node proxy (bare).
    for (const t of REFERENCES) if (all.some((s) => s.target === t && s.scenario === scenario)) spreadCheck(goal, t, scenario, m, ok, f, true);
  }
  for (const m of memory) {
    if (!PRODUCT.some((t) => t === m.target)) continue;
    const enough = soakRequests > 0 && m.servedBetween >= soakRequests;
    // A shrinking RSS is memory handed back to the system, not a leak: the goal is no growth past +10 %.
    const met = m.growthPercent === null || !enough ? null : m.growthPercent <= 10;
    checks.push({ goal: 'RSS stable within 10 % after warm-up (growth at most +10 %)', target: m.target, value: null, shown: `${growth(m)}${enough ? '' : ` (fewer than ${soakRequests})`}`, met });
  }
  return checks;
}

/** Not judged, shown beside the enforcing targets: the gateway without budgets, and a bare Node proxy. */
const REFERENCES: readonly Target[] = ['plain', 'bare'];

export function checksMarkdown(checks: readonly TargetCheck[]): string {
  const verdict = (c: TargetCheck): string => {
    const v = c.met === null ? 'not measured' : c.met ? 'met' : 'not met';
    return c.reference ? `(reference: ${v})` : c.met === null ? v : `**${v}**`;
  };
  return table(
    ['goal', 'target', 'median (min–max)', 'verdict'],
    checks.map((c) => [c.goal, c.target, c.shown, verdict(c)]),
    2,
  );
}
