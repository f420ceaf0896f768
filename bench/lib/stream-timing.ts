// Client-side timing of a streamed (server-sent events) response: when the first body byte came,
// and how far apart the paced events arrived. The simulator writes the role chunk at once, then
// each content piece after `x-sim-chunk-delay-ms`, then the closing frames at once; so the gaps in
// front of events 1..pieces are the paced ones, and a proxy that holds a chunk back widens them.

import { performance } from 'node:perf_hooks';

export interface StreamTiming {
  /** Send to first body byte, ms. */
  ttfbMs: number;
  /** Arrival gaps in front of each paced event (events 1..pieces), ms. */
  gapsMs: number[];
  /** Send to the last byte, ms. */
  totalMs: number;
  /** Complete events seen (a frame ends with a blank line). */
  events: number;
}

const NL = 0x0a;

/**
 * Reads the whole body, timestamping each event at the moment the chunk completing it arrived.
 * Events are counted on raw bytes ("\n\n" ends a frame; the simulator never sends "\r\n").
 */
export async function timeStream(body: AsyncIterable<Buffer>, sentAt: number, pieces: number): Promise<StreamTiming> {
  let ttfbMs = Number.NaN;
  let events = 0;
  let lastEventAt = Number.NaN;
  let previousByte = -1;
  const gapsMs: number[] = [];
  for await (const chunk of body) {
    const now = performance.now();
    if (Number.isNaN(ttfbMs)) ttfbMs = now - sentAt;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === NL && previousByte === NL) {
        if (events >= 1 && events <= pieces) gapsMs.push(now - lastEventAt);
        events++;
        lastEventAt = now;
        previousByte = -1; // "\n\n\n" is one frame end, not two
        continue;
      }
      previousByte = byte;
    }
  }
  return { ttfbMs, gapsMs, totalMs: performance.now() - sentAt, events };
}
