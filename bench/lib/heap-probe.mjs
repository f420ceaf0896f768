// Preloaded into every target process the bench starts but the simulator (`node --expose-gc
// --import <this file> …`), for the leak check: on SIGUSR2 it runs a full garbage collection and
// writes process.memoryUsage() (rss, heapUsed, heapTotal, external, arrayBuffers, in bytes) as
// JSON to $BENCH_HEAP_FILE. Memory read right after a burst of load includes garbage not yet
// collected; after a full GC, heapUsed is what the process really keeps. Nothing else changes:
// --expose-gc only makes gc() callable, and nothing calls it but this handler.
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.BENCH_HEAP_FILE;
if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    writeFileSync(`${file}.tmp`, JSON.stringify({ ...process.memoryUsage(), at: Date.now() }));
    renameSync(`${file}.tmp`, file);
  });
}
