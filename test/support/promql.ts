import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Enough PromQL to check what dashboards and alert rules ask Prometheus for: the metric names an
 * expression selects, the names a /metrics page exposes, and promtool (Debian's `prometheus`
 * package; .ci/run installs it) for syntax.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** The metric names an expression selects: identifiers that are no function, keyword, label or number. */
export function metricNames(expr: string): string[] {
  const selectorsOnly = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of selectorsOnly.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const before = selectorsOnly[match.index - 1] ?? ' ';
    const after = selectorsOnly.slice(match.index + match[0].length).trimStart();
    if (/[\w.$]/.test(before) || after.startsWith('(') || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.add(match[0]);
  }
  return [...names];
}

/** Every series name a Prometheus text page can hold, histogram and summary parts included. */
export function exposedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') ['_bucket', '_sum', '_count'].forEach((suffix) => names.add(name + suffix));
    else if (type === 'summary') ['', '_sum', '_count'].forEach((suffix) => names.add(name + suffix));
    else names.add(name!);
  }
  return names;
}

export function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `promtool <args>`: its exit code and everything it printed. */
export function promtool(...args: string[]): { code: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** promtool's verdict on expressions, as recording rules in a scratch file (it has no bare-expression check). */
export function checkExpressions(exprs: readonly string[]): { code: number | null; output: string } {
  const rules = { groups: [{ name: 'expressions', rules: exprs.map((expr, i) => ({ record: `check:expression_${i}`, expr })) }] };
  const file = join(mkdtempSync(join(tmpdir(), 'promql-')), 'rules.json');
  writeFileSync(file, JSON.stringify(rules));
  return promtool('check', 'rules', file);
}
