import { lte, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { jobLeases } from '../db/schema.js';

/**
 * Which replica runs a job (CONTRACT section 9): a row per job, taken by whoever finds it free or
 * expired, in one statement, so two replicas never both hold it. A lease table rather than a
 * session advisory lock because pooled connections (and PGlite) give no session to hold one on,
 * and an expiry frees the job by itself when its holder dies.
 */

/** Whether `holder` now holds the job's lease, until `nowMs + ttlMs`. */
export async function takeJobLease(db: Db, job: string, holder: string, nowMs: number, ttlMs: number): Promise<boolean> {
  const now = new Date(nowMs);
  const expiresAt = new Date(nowMs + ttlMs);
  const taken = await db
    .insert(jobLeases)
    .values({ job, holder, expiresAt })
    .onConflictDoUpdate({
      target: jobLeases.job,
      set: { holder, expiresAt },
      // Only a free or expired lease is taken, by its own holder too: a second run of the job in
      // the same process (asked for while the cron's run is under way) must not share it, or the
      // first to finish would free it while the other still works. A release that failed leaves
      // the job held until it expires, at most leaseMs.
      // Through the column (not a raw template) so the Date is encoded: postgres-js cannot bind a bare Date.
      setWhere: lte(jobLeases.expiresAt, now),
    })
    .returning({ job: jobLeases.job });
  return taken.length > 0;
}

/** Frees the job at once (its run finished), if `holder` still holds it. */
export async function releaseJobLease(db: Db, job: string, holder: string): Promise<void> {
  await db.execute(sql`delete from ${jobLeases} where ${jobLeases.job} = ${job} and ${jobLeases.holder} = ${holder}`);
}
