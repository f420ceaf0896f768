import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every TypeScript file under src/, read whole. */
function sources(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [readFileSync(join(dir, entry.name), 'utf8')] : [],
  );
}

/** The messages the README's "What the log lines mean" table names (a trailing "…" marks a prefix). */
function documentedMessages(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### What the log lines mean'), readme.indexOf('### Scheduled jobs'));
  const rows = section.split('\n').filter((line) => /^\| (warn|error|warn \/ error) \|/.test(line));
  return rows.flatMap((row) => [...row.split(' | ')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/…$/, '').replace(/[:\s]+$/, '')));
}

/** The message of every warn and error the code logs: the last string literal of each call. */
function loggedMessages(): string[] {
  const calls = sources().flatMap((code) => [...code.matchAll(/\.(?:warn|error)\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)/g)]);
  return calls.flatMap((call) => {
    const literals = [...call[1]!.matchAll(/'((?:[^'\\]|\\.)*)'|`([^`$]*)`/g)];
    const last = literals.at(-1);
    return last ? [last[1] ?? last[2]!] : [];
  });
}

describe("the README's table of log lines", () => {
  it('names every warn and error message the gateway logs', () => {
    const documented = documentedMessages();
    const logged = [...new Set(loggedMessages())];
    expect(logged.length).toBeGreaterThan(20);
    expect(logged.filter((m) => !documented.some((d) => m.startsWith(d)))).toEqual([]);
  });

  it('names only messages the gateway logs, as it writes them', () => {
    const code = sources().join('\n');
    const messages = documentedMessages();
    expect(messages.length).toBeGreaterThan(20);
    expect(messages.filter((m) => !code.includes(m))).toEqual([]);
  });
});
