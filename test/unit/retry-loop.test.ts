import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryLoop } from '../../src/retry-loop.js';

describe('RetryLoop', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a pass everyMs after being asked, and again while something is pending', async () => {
    vi.useFakeTimers();
    let owed = 3;
    const passes: number[] = [];
    const loop = new RetryLoop(1_000, async () => void passes.push(owed--), () => owed > 0);
    loop.ask();
    loop.ask();
    await vi.advanceTimersByTimeAsync(999);
    expect(passes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([3]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(passes).toEqual([3, 2, 1]);
    // Nothing pending: asked, it does not run.
    loop.ask();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(passes).toEqual([3, 2, 1]);
  });

  it('runs one pass at a time, and goes on after a pass that failed', async () => {
    vi.useFakeTimers();
    let running = 0;
    let most = 0;
    let calls = 0;
    const loop = new RetryLoop(
      100,
      async () => {
        calls++;
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 350));
        running--;
        if (calls === 1) throw new Error('store away');
      },
      () => calls < 3,
    );
    loop.ask();
    await vi.advanceTimersByTimeAsync(120);
    loop.ask();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(3);
    expect(most).toBe(1);
  });

  it('runs nothing after stop, which waits for the pass under way', async () => {
    vi.useFakeTimers();
    let ended = false;
    let calls = 0;
    const loop = new RetryLoop(
      100,
      async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 500));
        ended = true;
      },
      () => true,
    );
    loop.ask();
    await vi.advanceTimersByTimeAsync(150);
    const stopped = loop.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(400);
    expect(done).toBe(true);
    expect(ended).toBe(true);
    loop.ask();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(1);
  });
});
