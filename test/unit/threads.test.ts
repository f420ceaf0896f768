import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { kernelThreadId, moduleWorker, runAsBackground } from '../../src/threads.js';

const answer = async (worker: Worker): Promise<unknown> => {
  try {
    return await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
};

describe('worker threads of our own modules', () => {
  it('runs the compiled .js beside a compiled caller, as the build ships', async () => {
    const caller = new URL('./fixtures/caller.js', import.meta.url).href; // named only for its folder
    expect(await answer(moduleWorker(caller, './echo-worker', { workerData: 41 }))).toEqual({ from: 'js', got: 41 });
  });

  it('runs the .ts source through tsx beside a TypeScript caller, as tests and `npm run dev` do', async () => {
    const caller = new URL('./fixtures/caller.ts', import.meta.url).href;
    expect(await answer(moduleWorker(caller, './echo-worker', { workerData: { n: 42 } }))).toEqual({ from: 'ts', got: { n: 42 } });
  });

  it('knows the calling thread by its kernel id, and says why a thread without one cannot be moved', async () => {
    expect(kernelThreadId()).toBe(process.pid); // the main thread's id is the process id
    await expect(runAsBackground(null)).rejects.toThrow('thread ids are Linux-only');
  });
});
