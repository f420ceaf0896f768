import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../src/proxy/request-id.js';

const VERSION_7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit time an id carries, in milliseconds. */
function timeOf(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** The id's 74 random bits, as a string of 0s and 1s. */
function randomBits(id: string): string {
  const bits = BigInt(`0x${id.replaceAll('-', '')}`).toString(2).padStart(128, '0');
  return bits.slice(52, 64) + bits.slice(66);
}

describe('newRequestId', () => {
  it('makes UUIDs of version 7 with the RFC 9562 variant', () => {
    for (let i = 0; i < 5_000; i++) expect(newRequestId()).toMatch(VERSION_7);
  });

  it('carries the time of its making in its first 48 bits', () => {
    const before = Date.now();
    const id = newRequestId();
    const after = Date.now();
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(after);
    for (const ms of [0, 1, 0xff_ffff, 0x100_0000, Date.parse('2026-11-24T12:34:56.789Z'), 2 ** 47 + 12_345, 2 ** 48 - 1]) {
      const made = newRequestId(ms);
      expect(made).toMatch(VERSION_7);
      expect(timeOf(made)).toBe(ms);
    }
    expect(newRequestId(0).slice(0, 14)).toBe('00000000-0000-');
    expect(newRequestId(2 ** 48 - 1).slice(0, 14)).toBe('ffffffff-ffff-');
  });

  it('sorts in the order of time, as text and as PostgreSQL compares uuids (byte by byte)', () => {
    const start = Date.parse('2026-11-24T00:00:00Z');
    const ids = Array.from({ length: 2_000 }, (_, i) => newRequestId(start + i * 997));
    expect([...ids].sort()).toEqual(ids);
  });

  it('never repeats, across many refills of its pool of random bytes, even within one millisecond', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(newRequestId(1_700_000_000_000));
    expect(seen.size).toBe(100_000);
  });

  it('takes every one of its 74 random bits from the system, both ways', () => {
    const ones = new Array<number>(74).fill(0);
    const n = 4_000;
    for (let i = 0; i < n; i++) {
      const bits = randomBits(newRequestId(1_700_000_000_000));
      for (let b = 0; b < 74; b++) if (bits[b] === '1') ones[b]!++;
    }
    // Each bit is 1 in about half the ids (2,000 ± 5 standard deviations of 32).
    for (const count of ones) expect(Math.abs(count - n / 2)).toBeLessThan(160);
  });
});
