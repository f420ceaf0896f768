// Preloaded into every target process the bench starts but the simulator (`node --expose-gc
// --import <this file> …`), with $BENCH_HEAP_FILE naming where it writes:
// - for the leak check: on SIGUSR2 it runs a full garbage collection and writes
//   process.memoryUsage() (rss, heapUsed, heapTotal, external, arrayBuffers, in bytes) as JSON to
//   $BENCH_HEAP_FILE. Memory read right after a burst of load includes garbage not yet collected;
//   after a full GC, heapUsed is what the process really keeps.
// - for `npm run bench:threads`: on SIGURG it starts V8's GC profiler (the main thread's heap),
//   and on the next SIGURG stops it and writes to $BENCH_HEAP_FILE.gc, as JSON, the
//   collections in between summed by type: how many, their pauses (ms), and for scavenges the
//   bytes that survived them (kept in the young generation or promoted to the old one). SIGURG,
//   because nothing else sends it to a Node process (SIGWINCH would come with a terminal's resize).
// Nothing else changes: --expose-gc only makes gc() callable, and nothing calls it but the first
// handler; the profiler runs only between the two signals.
import { renameSync, writeFileSync } from 'node:fs';
import { GCProfiler } from 'node:v8';

const file = process.env.BENCH_HEAP_FILE;
if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    writeFileSync(`${file}.tmp`, JSON.stringify({ ...process.memoryUsage(), at: Date.now() }));
    renameSync(`${file}.tmp`, file);
  });
  let profiler;
  process.on('SIGURG', () => {
    if (profiler === undefined) {
      profiler = new GCProfiler();
      profiler.start();
      return;
    }
    const { statistics } = profiler.stop();
    profiler = undefined;
    writeFileSync(`${file}.gc.tmp`, JSON.stringify(summarize(statistics)));
    renameSync(`${file}.gc.tmp`, `${file}.gc`);
  });
}

/** Per type of collection: count, pause in ms, and bytes that survived (scavenges). */
function summarize(statistics) {
  const used = (side, space) => side.heapSpaceStatistics.find((s) => s.spaceName === space)?.spaceUsedSize ?? 0;
  const byType = {};
  for (const s of statistics) {
    const t = (byType[s.gcType] ??= { count: 0, pauseMs: 0, survivedBytes: 0 });
    t.count++;
    t.pauseMs += s.cost / 1000;
    if (s.gcType === 'Scavenge') {
      const promoted = used(s.afterGC, 'old_space') - used(s.beforeGC, 'old_space') + used(s.afterGC, 'large_object_space') - used(s.beforeGC, 'large_object_space');
      t.survivedBytes += used(s.afterGC, 'new_space') + Math.max(0, promoted);
    }
  }
  return byType;
}
