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
  const rest = fieldsAfterComm(stat);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/**
 * The fields of a /proc stat line after field 2 (comm), which is in parentheses and may hold
 * spaces: index 0 is field 3 (state), so utime (14) is index 11, stime 12, policy (41) 38.
 */
function fieldsAfterComm(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
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

/** What a thread of a target process is: its main thread, a thread at idle scheduling class, or another. */
export type ThreadKind = 'main' | 'idle' | 'other';
export const THREAD_KINDS: readonly ThreadKind[] = ['main', 'idle', 'other'];

/** Linux's SCHED_IDLE, the class the gateway puts its ledger writer's thread in (src/threads.ts). */
const SCHED_IDLE = 5;

/**
 * Samples one process's CPU time per thread at two moments (Linux /proc/<pid>/task); `perRequest`
 * turns the difference into µs/request by kind of thread: the main thread (the event loop), the
 * threads at idle scheduling class (the embedded database's, or the Redis ledger consumer's), and
 * the others (V8's GC helpers, libuv's pool). Threads that came or went in between are left out.
 */
export class ThreadWindow {
  #start = new Map<number, number>();
  #end = new Map<number, number>();
  #kinds = new Map<number, ThreadKind>();

  constructor(private readonly pid: number) {}

  start(): void {
    this.#start = this.#sample();
  }

  end(): void {
    this.#end = this.#sample();
  }

  perRequest(requests: number): Record<ThreadKind, number> {
    const out: Record<ThreadKind, number> = { main: 0, idle: 0, other: 0 };
    for (const [tid, end] of this.#end) {
      const start = this.#start.get(tid);
      if (start !== undefined) out[this.#kinds.get(tid)!] += end - start;
    }
    for (const kind of THREAD_KINDS) out[kind] = requests > 0 ? (out[kind] * 1e6) / CLK_TCK / requests : Number.NaN;
    return out;
  }

  #sample(): Map<number, number> {
    const ticks = new Map<number, number>();
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${this.pid}/task`);
    } catch {
      return ticks;
    }
    for (const entry of tids) {
      const tid = Number(entry);
      let stat: string;
      try {
        stat = readFileSync(`/proc/${this.pid}/task/${entry}/stat`, 'utf8');
      } catch {
        continue; // gone since the listing
      }
      const rest = fieldsAfterComm(stat);
      ticks.set(tid, Number(rest[11]) + Number(rest[12]));
      this.#kinds.set(tid, tid === this.pid ? 'main' : Number(rest[38]) === SCHED_IDLE ? 'idle' : 'other');
    }
    return ticks;
  }
}
