import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { Scheduler, type Job } from '../../src/jobs/scheduler.js';
import { takeJobLease } from '../../src/jobs/lease.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { forEachDatabase } from '../support/databases.js';
import { sample, startTestGateway } from '../support/gateway.js';

const logger = createLogger('silent');

/** A job that waits for the test to let it finish, so a run can be held open. */
function heldJob(name: string): Job & { runs: number; release(): void; started: Promise<void> } {
  let release!: () => void;
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const job = {
    name,
    schedule: '0 0 1 1 *',
    leaseMs: 60_000,
    runs: 0,
    release,
    started: startedPromise,
    async run() {
      job.runs++;
      started();
      await gate;
      return { done: 1 };
    },
  };
  return job;
}

forEachDatabase('the job scheduler', (t) => {
  it('runs a job on one replica at a time: the other is skipped while the lease is held', async () => {
    const metrics = [createMetrics({ defaultMetrics: false }), createMetrics({ defaultMetrics: false })];
    const name = `held-${Math.random().toString(36).slice(2)}`;
    const jobs = [heldJob(name), heldJob(name)];
    const replicas = [0, 1].map((i) => new Scheduler(t.db, metrics[i]!, logger, Date.now).add(jobs[i]!));

    const first = replicas[0]!.runNow(name);
    await jobs[0]!.started;
    expect(await replicas[1]!.runNow(name)).toBe('skipped');
    jobs[0]!.release();
    expect(await first).toBe('success');

    jobs[1]!.release();
    expect(await replicas[1]!.runNow(name)).toBe('success');
    expect(jobs.map((j) => j.runs)).toEqual([1, 1]);
    const text = await metrics[1]!.registry.metrics();
    expect(sample(text, `budget_gateway_job_runs_total{job="${name}",outcome="skipped"}`)).toBe(1);
    expect(sample(text, `budget_gateway_job_runs_total{job="${name}",outcome="success"}`)).toBe(1);
  });

  it('never overlaps a run of its own: a run asked for while the same job runs in this process is skipped', async () => {
    // Were the lease to let its own holder in again, the two runs would share it, and the first
    // to finish would free it while the other still worked.
    const name = `self-${Math.random().toString(36).slice(2)}`;
    const job = heldJob(name);
    const scheduler = new Scheduler(t.db, createMetrics({ defaultMetrics: false }), logger, Date.now).add(job);
    const first = scheduler.runNow(name);
    await job.started;
    expect(await scheduler.runNow(name)).toBe('skipped');
    expect(await takeJobLease(t.db, name, 'another-replica', Date.now(), 60_000)).toBe(false);
    job.release();
    expect(await first).toBe('success');
    expect(job.runs).toBe(1);
  });

  it('takes over the lease of a replica that died holding it, once it expired', async () => {
    const name = `orphan-${Math.random().toString(36).slice(2)}`;
    expect(await takeJobLease(t.db, name, 'dead-replica', Date.now() - 120_000, 60_000)).toBe(true);
    expect(await takeJobLease(t.db, name, 'live-replica', Date.now(), 60_000)).toBe(true);
    expect(await takeJobLease(t.db, name, 'third-replica', Date.now(), 60_000)).toBe(false);
    expect(await takeJobLease(t.db, name, 'live-replica', Date.now(), 60_000)).toBe(false); // not even its holder, while held
  });

  it('counts a failing run as a failure, frees the lease and never throws', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const name = `failing-${Math.random().toString(36).slice(2)}`;
    let runs = 0;
    const scheduler = new Scheduler(t.db, metrics, logger, Date.now).add({
      name,
      schedule: '0 0 1 1 *',
      leaseMs: 60_000,
      run: async () => {
        runs++;
        throw new Error('receiver down');
      },
    });
    expect(await scheduler.runNow(name)).toBe('failure');
    expect(await scheduler.runNow(name)).toBe('failure');
    expect(runs).toBe(2);
    expect(sample(await metrics.registry.metrics(), `budget_gateway_job_runs_total{job="${name}",outcome="failure"}`)).toBe(2);
  });

  it('fires jobs on their cron schedule (seconds field) and stops firing on stop()', async () => {
    const name = `cron-${Math.random().toString(36).slice(2)}`;
    let runs = 0;
    const scheduler = new Scheduler(t.db, createMetrics({ defaultMetrics: false }), logger, Date.now).add({
      name,
      schedule: '* * * * * *',
      leaseMs: 10_000,
      run: async () => {
        runs++;
        return {};
      },
    });
    scheduler.start();
    await vi.waitFor(() => expect(runs).toBeGreaterThanOrEqual(2), { timeout: 5_000, interval: 50 });
    await scheduler.stop();
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(runs).toBe(stoppedAt);
  });
});

let gateway: Awaited<ReturnType<typeof startTestGateway>>;
beforeAll(async () => {
  gateway = await startTestGateway({ RESET_CRON: '0 0 1 1 *', OVERRIDE_EXPIRY_CRON: '0 0 1 1 *' });
});
afterAll(() => gateway.shutdown());

it('the gateway exposes job runs on /metrics', async () => {
  expect(await gateway.services.scheduler.runNow('budget_reset')).toBe('success');
  expect(await gateway.services.scheduler.runNow('override_expiry')).toBe('success');
  const text = await gateway.metrics();
  expect(sample(text, 'budget_gateway_job_runs_total{job="budget_reset",outcome="success"}')).toBe(1);
  expect(sample(text, 'budget_gateway_job_runs_total{job="override_expiry",outcome="success"}')).toBe(1);
});
