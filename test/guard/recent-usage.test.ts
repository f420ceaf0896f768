import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentUsage } from '../../src/guard/recent-usage.js';

describe('the window of recent usage events', () => {
  it('keeps the events of the last windowMs, oldest first, and drains them once', () => {
    const recent = new RecentUsage(5_000, 100);
    recent.add('a', 1_000);
    recent.add('b', 3_000);
    recent.add('c', 6_000); // a is now 5,000 ms old: still in
    expect(recent.size).toBe(3);
    recent.add('d', 6_001); // a is older than the window
    expect(recent.drain()).toEqual(['b', 'c', 'd']);
    expect(recent.drain()).toEqual([]);
    recent.add('e', 7_000);
    expect(recent.drain()).toEqual(['e']);
  });

  it('keeps at most max events, dropping the oldest', () => {
    const recent = new RecentUsage(60_000, 3);
    for (const [i, event] of ['a', 'b', 'c', 'd', 'e'].entries()) recent.add(event, i);
    expect(recent.size).toBe(3);
    expect(recent.drain()).toEqual(['c', 'd', 'e']);
  });

  it('keeps any text whole, long or short, ASCII or not, across the buffers growing and compacting', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ minLength: 1_000, maxLength: 90_000 })), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 30 }),
        (events, max) => {
          const recent = new RecentUsage(60_000, max);
          events.forEach((event, i) => recent.add(event, i));
          expect(recent.drain()).toEqual(events.slice(-max));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('answers as a plain list filtered by age and capped would, over any sequence of adds and drains', () => {
    const step = fc.oneof(
      { weight: 200, arbitrary: fc.record({ kind: fc.constant('add' as const), advanceMs: fc.integer({ min: 0, max: 40 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const) }) },
    );
    fc.assert(
      // Thousands of adds of events of any length, so the buffers grow and are compacted many times.
      fc.property(fc.array(step, { minLength: 2_000, maxLength: 6_000 }), fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 0, max: 200 }), (steps, max, pad) => {
        const windowMs = 1_000;
        const recent = new RecentUsage(windowMs, max);
        let model: { atMs: number; event: string }[] = [];
        let nowMs = 0;
        steps.forEach((s, i) => {
          if (s.kind === 'drain') {
            expect(recent.drain()).toEqual(model.map((m) => m.event));
            model = [];
            return;
          }
          nowMs += s.advanceMs;
          const event = `e${i}:${'é'.repeat((i * 7) % (pad + 1))}`;
          recent.add(event, nowMs);
          model.push({ atMs: nowMs, event });
          model = model.filter((m) => m.atMs >= nowMs - windowMs).slice(-max);
          expect(recent.size).toBe(model.length);
        });
        expect(recent.drain()).toEqual(model.map((m) => m.event));
      }),
      { numRuns: 40 },
    );
  });
});
