import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../src/proxy/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  // 2,000 ids use up the cache of random bytes (256 ids) several times over.
  const ids = Array.from({ length: 2_000 }, () => newRequestId());

  it('are version 4 UUIDs of the RFC 4122 variant, as crypto.randomUUID makes them', () => {
    for (const id of ids) expect(id).toMatch(UUID_V4);
  });

  it('are all different, also across refills of the random bytes', () => {
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('use every hex digit in every random position', () => {
    // Random positions only: the version digit is always 4 and the variant digit one of 8-b.
    const fixed = new Set([14, 19]);
    for (let position = 0; position < 36; position++) {
      if ([8, 13, 18, 23].includes(position) || fixed.has(position)) continue;
      const seen = new Set(ids.map((id) => id[position]));
      expect(seen.size, `position ${position}`).toBe(16);
    }
    expect(new Set(ids.map((id) => id[19]))).toEqual(new Set(['8', '9', 'a', 'b']));
  });
});
