import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { GC_FLAGS } from '../../src/gc-tuning.js';

const run = promisify(execFile);

/**
 * In a plain `node` process of its own (V8 flags are per process; the tsx loader keeps V8 from
 * pretenuring this bait, so it is not used here): `flags` set at run time, as
 * `tuneGarbageCollection` sets them, then five rounds of a million objects of one object literal,
 * all kept (what makes V8 pretenure a literal), and 1,000 more of them. Answers, per round, how
 * many of those 1,000 were born in the young generation.
 */
async function bornYoungAfterPretenuringBait(flags: readonly string[]): Promise<number[]> {
  const script = `
    const v8 = require('node:v8');
    for (const flag of ${JSON.stringify(flags)}) v8.setFlagsFromString(flag);
    const inYoungGeneration = new Function('o', 'return %InYoungGeneration(o)');
    const keep = [];
    function make(i) { return { a: i, b: i, c: i, d: i }; }
    const rounds = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1_000_000; i++) keep.push(make(i));
      let young = 0;
      for (let i = 0; i < 1_000; i++) if (inYoungGeneration(make(i))) young++;
      rounds.push(young);
    }
    console.log(JSON.stringify(rounds));
  `;
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '-e', script]);
  return JSON.parse(stdout) as number[];
}

describe('garbage collection tuning', () => {
  it('keeps V8 from allocating a long-lived-looking literal straight into the old generation', async () => {
    const [untouched, tuned] = await Promise.all([bornYoungAfterPretenuringBait([]), bornYoungAfterPretenuringBait(GC_FLAGS)]);
    // The bait works: left alone, V8 pretenures the literal (else this test could not fail).
    expect(untouched.some((young) => young === 0), JSON.stringify(untouched)).toBe(true);
    // Tuned, its objects are born young in every round, as every request's objects should be.
    expect(tuned).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
  }, 30_000);
});
