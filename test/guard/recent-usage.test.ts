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

  it('keeps events past the window from windowMs before the time held from, until that moves', () => {
    const recent = new RecentUsage(5_000, 100);
    recent.add('a', 1_000);
    recent.add('b', 3_000);
    recent.holdFrom(6_000); // the stream holds usage unwritten since 6,000 (on its own clock)
    recent.add('c', 20_000);
    expect(recent.size).toBe(3);
    recent.holdFrom(7_000); // written up to 7,000: a (and only a) is older than 5 s before that
    recent.add('d', 21_000);
    expect(recent.size).toBe(3);
    recent.holdFrom(Number.POSITIVE_INFINITY); // nothing waits: the window alone
    recent.add('e', 21_000);
    expect(recent.drain()).toEqual(['c', 'd', 'e']);
  });

  it('keeps at most max events, dropping the oldest', () => {
    const recent = new RecentUsage(60_000, 3);
    for (const [i, event] of ['a', 'b', 'c', 'd', 'e'].entries()) recent.add(event, i);
    expect(recent.size).toBe(3);
    expect(recent.drain()).toEqual(['c', 'd', 'e']);
  });

  it('keeps every event whole when its rings grow while the bytes run over the end and on from the start', () => {
    // 100 bytes and two index slots to start with; events of 40 bytes, a window of 10 ms.
    const recent = new RecentUsage(10, 100, { bytes: 100, eventsLog2: 1 });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => x.repeat(40));
    recent.add(a!, 0); // bytes 0-40
    recent.add(b!, 5); // 40-80
    recent.add(c!, 11); // a is dropped; 80 + 40 is past the end, so c goes to 0-40, before b
    recent.add(d!, 12); // the index grows; d fits neither after c (b is there) nor after b: the bytes grow
    recent.add('e', 13);
    expect(recent.drain()).toEqual([b, c, d, 'e']);
  });

  it('knows an empty event written where the oldest starts is not room to write on', () => {
    const recent = new RecentUsage(10, 100, { bytes: 100, eventsLog2: 3 });
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(50));
    recent.add(a!, 0); // bytes 0-50
    recent.add(b!, 5); // 50-100
    recent.add(c!, 11); // a is dropped; c goes to 0-50, up to where b starts: the buffer is full
    recent.add('', 12); // takes no bytes, at 50
    recent.add('f'.repeat(10), 13); // no room: the bytes grow, and b stays whole
    expect(recent.drain()).toEqual([b, c, '', 'f'.repeat(10)]);
  });

  it('keeps any text whole, long or short, ASCII or not, across the buffers growing and wrapping', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ minLength: 1_000, maxLength: 90_000 })), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 30 }),
        fc.record({ bytes: fc.integer({ min: 0, max: 70_000 }), eventsLog2: fc.integer({ min: 0, max: 6 }) }),
        (events, max, first) => {
          const recent = new RecentUsage(60_000, max, first);
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
      // Thousands of adds of events of any length, so the byte and index rings wrap (and grow) many times.
      fc.property(
        fc.array(step, { minLength: 2_000, maxLength: 6_000 }),
        fc.integer({ min: 1, max: 3_000 }),
        fc.integer({ min: 0, max: 200 }),
        // Rings that start tiny are full often: every way of placing an event is taken many times.
        fc.record({ bytes: fc.integer({ min: 0, max: 4_096 }), eventsLog2: fc.integer({ min: 0, max: 4 }) }),
        (steps, max, pad, first) => {
          const windowMs = 1_000;
          const recent = new RecentUsage(windowMs, max, first);
          let model: { atMs: number; event: string }[] = [];
          let nowMs = 0;
          steps.forEach((s, i) => {
            if (s.kind === 'drain') {
              expect(recent.drain()).toEqual(model.map((m) => m.event));
              model = [];
              return;
            }
            nowMs += s.advanceMs;
            // Some events are empty: they take no bytes, yet keep their place in the order.
            const event = i % 13 === 5 ? '' : `e${i}:${'é'.repeat((i * 7) % (pad + 1))}`;
            recent.add(event, nowMs);
            model.push({ atMs: nowMs, event });
            model = model.filter((m) => m.atMs >= nowMs - windowMs).slice(-max);
            expect(recent.size).toBe(model.length);
          });
          expect(recent.drain()).toEqual(model.map((m) => m.event));
        },
      ),
      { numRuns: 40 },
    );
  });
});
