import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createTask, type ScheduledTask } from 'node-cron';
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { releaseJobLease, takeJobLease } from './lease.js';

/**
 * In-process scheduled jobs (CONTRACT section 9): node-cron fires them (UTC), a job lease in the
 * database lets one replica at a time run each, and every run is counted in
 * `budget_gateway_job_runs_total` and logged. Jobs are written to be idempotent, so a run repeated
 * after a crash, or by the next replica, does no harm.
 */

export interface Job {
  readonly name: string;
  /** A node-cron expression (five fields, or six with seconds first), in UTC. */
  readonly schedule: string;
  /** The longest a run may hold the job: a replica that dies mid-run frees it after this. */
  readonly leaseMs: number;
  /** Does the work as of `nowMs`; what it returns is logged as the run's summary. */
  run(nowMs: number): Promise<JobSummary>;
}

/** What a run did, for the log; `{}` when there was nothing to do. */
export type JobSummary = Readonly<Record<string, number | string>>;

export type JobOutcome = 'success' | 'failure' | 'skipped';

export class Scheduler {
  readonly #jobs = new Map<string, Job>();
  readonly #tasks: ScheduledTask[] = [];
  readonly #running = new Set<Promise<unknown>>();
  /** This replica, as lease holder: unique per process even on one host. */
  readonly #holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly db: Db,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The budget clock jobs decide by (tests move it); leases use wall time. */
    private readonly now: () => number,
  ) {}

  add(job: Job): this {
    this.#jobs.set(job.name, job);
    return this;
  }

  start(): void {
    for (const job of this.#jobs.values()) {
      const task = createTask(job.schedule, () => this.#track(this.runNow(job.name)), {
        name: job.name,
        timezone: 'Etc/UTC',
        noOverlap: true,
      });
      task.unref();
      void task.start();
      this.#tasks.push(task);
    }
  }

  /** Runs the job now (unless another replica holds it); never throws. */
  async runNow(name: string): Promise<JobOutcome> {
    const job = this.#jobs.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    const outcome = await this.#run(job);
    this.metrics.jobRuns.labels(job.name, outcome).inc();
    return outcome;
  }

  /** Stops firing and waits for runs under way. */
  async stop(): Promise<void> {
    await Promise.all(this.#tasks.map((task) => task.destroy()));
    this.#tasks.length = 0;
    await Promise.allSettled([...this.#running]);
  }

  async #run(job: Job): Promise<JobOutcome> {
    const started = performance.now();
    try {
      if (!(await takeJobLease(this.db, job.name, this.#holder, Date.now(), job.leaseMs))) {
        this.logger.debug({ job: job.name }, 'job skipped: another replica is running it');
        return 'skipped';
      }
    } catch (err) {
      this.logger.error({ job: job.name, err: (err as Error).message }, 'job not run: could not take its lease');
      return 'failure';
    }
    try {
      const summary = await job.run(this.now());
      const ms = Math.round(performance.now() - started);
      if (Object.keys(summary).length > 0) this.logger.info({ job: job.name, ms, ...summary }, 'job ran');
      else this.logger.debug({ job: job.name, ms }, 'job ran: nothing to do');
      return 'success';
    } catch (err) {
      this.logger.error({ job: job.name, err: (err as Error).message }, 'job failed');
      return 'failure';
    } finally {
      await releaseJobLease(this.db, job.name, this.#holder).catch(() => {
        // Expires by itself after leaseMs.
      });
    }
  }

  #track(run: Promise<unknown>): Promise<unknown> {
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
    return run;
  }
}
