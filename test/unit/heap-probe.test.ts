// The bench's heap probe (bench/lib/heap-probe.mjs), preloaded into a process as the bench
// preloads it: SIGUSR2 writes memory after a full GC (the leak check), SIGURG starts and then
// stops V8's GC profiler and writes the collections in between (`npm run bench:threads`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const probe = new URL('../../bench/lib/heap-probe.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'heap-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `script` in a node with the probe preloaded, and returns what it printed. */
function run(script: string): string {
  const file = join(dir, `heap-${Math.random().toString(36).slice(2)}.json`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', probe, '-e', script], {
    env: { ...process.env, BENCH_HEAP_FILE: file },
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

// Allocates objects that live a while (a list kept across scavenges), so some survive each one.
const CHURN = 'let kept = []; for (let i = 0; i < 3e5; i++) { kept.push({ i }); if (kept.length > 2e4) kept = []; }';
const READ = (suffix: string) => `require('node:fs').readFileSync(process.env.BENCH_HEAP_FILE + '${suffix}', 'utf8')`;

describe('bench heap probe', () => {
  it('writes the collections between two SIGURGs: scavenges, their pauses and the bytes that survived them', () => {
    const out = run(
      `const { existsSync } = require('node:fs'); const gcFile = process.env.BENCH_HEAP_FILE + '.gc';
       ${CHURN}
       process.kill(process.pid, 'SIGURG');
       setTimeout(() => {
         if (existsSync(gcFile)) throw new Error('written before the second signal');
         ${CHURN}
         process.kill(process.pid, 'SIGURG');
         setTimeout(() => process.stdout.write(${READ('.gc')}), 20);
       }, 20);`,
    );
    const byType = JSON.parse(out) as Record<string, { count: number; pauseMs: number; survivedBytes: number }>;
    const scavenges = byType.Scavenge!;
    expect(scavenges.count).toBeGreaterThan(0);
    expect(scavenges.pauseMs).toBeGreaterThan(0);
    // 2e4 objects of 16+ bytes live at any time: each scavenge copies some of them.
    expect(scavenges.survivedBytes / scavenges.count).toBeGreaterThan(16 * 1000);
  });

  it('counts only the collections between the signals: none of the scavenges before them', () => {
    const out = run(
      `${CHURN}
       process.kill(process.pid, 'SIGURG');
       setTimeout(() => {
         process.kill(process.pid, 'SIGURG');
         setTimeout(() => process.stdout.write(${READ('.gc')}), 20);
       }, 20);`,
    );
    // Scavenges come with allocation only (a full collection V8 finishes while idle may still come).
    expect((JSON.parse(out) as Record<string, unknown>).Scavenge).toBeUndefined();
  });

  it('still writes memory after a full GC on SIGUSR2', () => {
    const out = run(
      `process.kill(process.pid, 'SIGUSR2');
       setTimeout(() => process.stdout.write(${READ('')}), 20);`,
    );
    const memory = JSON.parse(out) as { rss: number; heapUsed: number; at: number };
    expect(memory.rss).toBeGreaterThan(memory.heapUsed);
    expect(memory.heapUsed).toBeGreaterThan(0);
  });
});
