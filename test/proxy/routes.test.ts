import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlainPath } from '../../src/proxy/routes.js';

/** The rule as first written: split into segments, look for dot segments and encoded separators. */
function plainBySegments(rawUrl: string): boolean {
  const path = rawUrl.split('?', 1)[0]!;
  return !/%2[ef]|%5c|\\/i.test(path) && !path.split('/').some((segment) => segment === '.' || segment === '..');
}

describe('isPlainPath', () => {
  it('refuses dot segments and encoded slashes, dots and backslashes in the path, not in the query', () => {
    expect(isPlainPath('/v1/chat/completions')).toBe(true);
    expect(isPlainPath('/v1/models/gpt-4o.mini?x=../..')).toBe(true);
    expect(isPlainPath('/v1/files/...')).toBe(true);
    expect(isPlainPath('/v1/audio/..%2f..%2fkey/update')).toBe(false);
    expect(isPlainPath('/v1/audio/../key')).toBe(false);
    expect(isPlainPath('/v1/./chat/completions')).toBe(false);
    expect(isPlainPath('/v1/models/..')).toBe(false);
    expect(isPlainPath('/v1/models/%2E%2E')).toBe(false);
    expect(isPlainPath('/v1\\models')).toBe(false);
    expect(isPlainPath('/v1/models%5Cx')).toBe(false);
  });

  it('agrees with the segment-by-segment rule on any path made of the characters that matter', () => {
    const char = fc.constantFrom('/', '.', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', '\\', '?', 'v', '1', 'x');
    fc.assert(
      fc.property(fc.string({ unit: char, maxLength: 16 }), (tail) => {
        for (const url of [tail, `/${tail}`, `/v1/${tail}`]) expect(isPlainPath(url)).toBe(plainBySegments(url));
      }),
      { numRuns: 20_000 },
    );
  });
});
