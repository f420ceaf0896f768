// Resident memory of the target processes, from /proc/<pid>/status (Linux): VmRSS now, and
// VmHWM, the kernel's own high-water mark, for the peak (no sample can miss a short spike).
// The leak check compares VmRSS at two points with the requests each process served in between.

import { readFileSync, writeFileSync } from 'node:fs';

export interface Memory {
  rssKb: number;
  peakKb: number;
}

/** VmRSS and VmHWM of `pid` in kB; undefined where /proc is missing or the process is gone. */
export function readMemory(pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const rssKb = field('VmRSS');
  const peakKb = field('VmHWM');
  return Number.isFinite(rssKb) ? { rssKb, peakKb } : undefined;
}

export interface MemoryPoint {
  /** What had happened when the point was taken ("after warm-up", "rep 2 c64", ...). */
  label: string;
  rssKb: number;
  /** Requests this process had completed at that point (warm-up included). */
  served: number;
  /** Memory after a full GC, where the process has the heap probe. */
  heap?: HeapView;
}

export interface HeapView {
  /** RSS right after the full GC. */
  rssKb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  /** Memory outside the JS heap that V8 knows of: Buffers, ArrayBuffers, WebAssembly memory (PGlite). */
  externalMb: number;
}

export interface Probe {
  pid: number | undefined;
  /** Where bench/lib/heap-probe.mjs in that process writes its figures; undefined: no probe. */
  heapFile?: string;
}

const PROBE_TIMEOUT_MS = 5_000;

/** Has the process run a full GC (SIGUSR2 to bench/lib/heap-probe.mjs) and reads its memory after it. */
export async function probeHeap(probe: Probe): Promise<HeapView | undefined> {
  const { pid, heapFile } = probe;
  if (pid === undefined || heapFile === undefined) return undefined;
  const before = readProbe(heapFile)?.at ?? 0;
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return undefined;
  }
  const deadline = Date.now() + PROBE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const found = readProbe(heapFile);
    if (found && found.at > before) {
      const mb = (bytes: number): number => bytes / 1024 / 1024;
      return { rssKb: found.rss / 1024, heapUsedMb: mb(found.heapUsed), heapTotalMb: mb(found.heapTotal), externalMb: mb(found.external) };
    }
  }
  return undefined;
}

function readProbe(file: string): { at: number; rss: number; heapUsed: number; heapTotal: number; external: number } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof readProbe>;
  } catch {
    return undefined;
  }
}

/** Per-target bookkeeping: requests served so far and RSS at the points the run chooses. */
export class MemoryLedger {
  readonly #served = new Map<string, number>();
  readonly #points = new Map<string, MemoryPoint[]>();
  readonly #peakReset = new Map<string, boolean>();

  constructor(private readonly probes: ReadonlyMap<string, Probe>) {}

  count(target: string, requests: number): void {
    this.#served.set(target, this.served(target) + requests);
  }

  served(target: string): number {
    return this.#served.get(target) ?? 0;
  }

  /**
   * Records VmRSS of every target (or `only` these) now, under `label`. `resetPeak` restarts the kernel's high-water
   * mark (writing 5 to /proc/<pid>/clear_refs, Linux 4.0+), so the peak reported later is the
   * load's, not start-up's (module loading, migrations); where that is refused the peak includes it.
   */
  mark(label: string, { resetPeak = false, only }: { resetPeak?: boolean; only?: readonly string[] } = {}): void {
    for (const [target, { pid }] of this.probes) {
      if (only !== undefined && !only.includes(target)) continue;
      if (resetPeak) this.#peakReset.set(target, clearPeak(pid));
      const memory = readMemory(pid);
      if (memory === undefined) continue;
      const points = this.#points.get(target) ?? [];
      points.push({ label, rssKb: memory.rssKb, served: this.served(target) });
      this.#points.set(target, points);
    }
  }

  points(target: string): readonly MemoryPoint[] {
    return this.#points.get(target) ?? [];
  }

  point(target: string, label: string): MemoryPoint | undefined {
    return this.points(target).find((p) => p.label === label);
  }

  /** Adds the memory after a full GC to the point `label` of `target`. */
  async addHeap(target: string, label: string): Promise<void> {
    const point = this.point(target, label);
    const probe = this.probes.get(target);
    const heap = point && probe && (await probeHeap(probe));
    if (point && heap) point.heap = heap;
  }

  peakKb(target: string): number | null {
    return readMemory(this.probes.get(target)?.pid)?.peakKb ?? null;
  }

  /** Whether the peak of `target` was restarted after warm-up (else it includes start-up). */
  peakSinceWarmup(target: string): boolean {
    return this.#peakReset.get(target) ?? false;
  }
}

function clearPeak(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
