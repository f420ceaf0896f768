import { execFile } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running one of our modules: the compiled `.js` as it ships, or, under tsx and
 * vitest (which run the TypeScript sources), the `.ts` file through tsx, since a worker starts
 * with Node's own loader and cannot read TypeScript. `sibling` is the module's path without its
 * extension, relative to `from` (the caller's `import.meta.url`).
 */
export function moduleWorker(from: string, sibling: string, options: WorkerOptions): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`${sibling}.js`, from), options);
  const file = JSON.stringify(new URL(`${sibling}.ts`, from).href);
  const tsx = JSON.stringify(pathToFileURL(join(dirname(createRequire(from).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href);
  return new Worker(`import(${tsx}).then((tsx) => tsx.tsImport(${file}, ${file}))`, { ...options, eval: true });
}

/** The calling thread's id in the kernel (Linux), or null where there is none to read. */
export function kernelThreadId(): number | null {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || null;
  } catch {
    return null;
  }
}

/**
 * Moves a thread of this process to Linux's idle scheduling class (`SCHED_IDLE`, through
 * util-linux's `chrt`): it then runs only on a core no other thread wants, and gives way at once
 * when one wakes. For the threads whose work can wait a moment (the ledger's writes) and should
 * never hold up a request: at normal priority a request (or the upstream) woken on the core where
 * such a thread ran waited for the kernel's next tick, up to 4 ms, which on a small machine made
 * most of the gateway's latency tail. The cost: on a machine whose every core is kept busy, that
 * work waits until a core frees up. Throws, saying why, where it cannot be done (not Linux, no
 * `chrt`); nothing else changes then. Irreversible without CAP_SYS_NICE, as the kernel allows.
 */
export async function runAsBackground(tid: number | null | undefined): Promise<void> {
  if (tid === null || tid === undefined) throw new Error('thread ids are Linux-only');
  await promisify(execFile)('chrt', ['--idle', '--pid', '0', String(tid)], { timeout: 5_000 });
}
