// CPU time of a child process, read from /proc/<pid>/stat (Linux): process.cpuUsage() only
// measures the calling process, and the targets run in children.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second for /proc times (`getconf CLK_TCK`; 100 on practically every Linux). */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/**
 * utime + stime of `pid` in clock ticks, or undefined where /proc is missing (not Linux) or the
 * process is gone. Synchronous on purpose: a read of /proc takes microseconds and the sample
 * lands exactly at the window boundary instead of after a trip through the thread pool.
 */
export function cpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may hold spaces; count fields after its closing one.
  // Fields from 3 on: state(3) ... utime(14) stime(15), so utime is index 11 after the ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** Command names of the Redis server's and PostgreSQL's processes (its backends share the name). */
export const STORE_PROCESSES: readonly string[] = ['redis-server', 'postgres'];

/**
 * The processes whose command name is one of `names` (Linux /proc; empty elsewhere): the Redis
 * server and PostgreSQL's processes, which the bench does not start and so knows no pid of.
 */
export function pidsNamed(names: readonly string[]): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // gone since the listing
    }
  }
  return pids;
}

/**
 * Samples some processes' CPU time at two moments; `perRequest` turns the difference into
 * µs/request. A name may stand for several processes (summed over those alive at both moments).
 */
export class CpuWindow {
  #start = new Map<string, Map<number, number>>();
  #end = new Map<string, Map<number, number>>();

  constructor(private readonly pids: Readonly<Record<string, number | readonly number[] | undefined>>) {}

  start(): void {
    this.#sample(this.#start);
  }

  end(): void {
    this.#sample(this.#end);
  }

  /** CPU µs that process `name` spent in the window per request; null when not measurable. */
  perRequest(name: string, requests: number): number | null {
    const a = this.#start.get(name);
    const b = this.#end.get(name);
    if (a === undefined || b === undefined || requests <= 0) return null;
    let ticks = 0;
    let both = 0;
    for (const [pid, end] of b) {
      const start = a.get(pid);
      if (start === undefined) continue;
      ticks += end - start;
      both++;
    }
    return both === 0 ? null : (ticks * 1e6) / CLK_TCK / requests;
  }

  #sample(into: Map<string, Map<number, number>>): void {
    for (const [name, pids] of Object.entries(this.pids)) {
      const ticks = new Map<number, number>();
      for (const pid of pids === undefined ? [] : typeof pids === 'number' ? [pids] : pids) {
        const t = cpuTicks(pid);
        if (t !== undefined) ticks.set(pid, t);
      }
      into.set(name, ticks);
    }
  }
}
