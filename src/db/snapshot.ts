/**
 * PostgreSQL snapshots, as `pg_current_snapshot()::text` writes them (`xmin:xmax:xip,...`, the
 * functions' reference, "Snapshot Information"), and what they saw: whether a row written by the
 * transaction `xid` (its `xmin`, which reads as a 32-bit id) was visible to a query that ran in
 * the snapshot. A row we can read was committed; it was visible to that query if its transaction
 * had finished before the snapshot was taken: below `xmin`, or below `xmax` and not in progress.
 *
 * A row's 32-bit id is placed in the snapshot's epoch by the 64-bit `xmax`: valid for rows
 * written within 2^31 transactions of the snapshot, which is every row this is asked about (usage
 * settled minutes before or after it).
 */
export function seenInSnapshot(snapshot: string, xid: string): boolean {
  const [xminText, xmaxText, inProgress = ''] = snapshot.split(':');
  const xmin = BigInt(xminText!);
  const xmax = BigInt(xmaxText!);
  const raw = BigInt(xid);
  // Ids below 3 are special (bootstrap, frozen): written before anything else.
  if (raw < 3n) return true;
  const full = inEpochOf(xmax, raw);
  if (full < xmin) return true;
  if (full >= xmax) return false;
  return !inProgress.split(',').some((id) => id !== '' && BigInt(id) === full);
}

const EPOCH = 1n << 32n;
const HALF = 1n << 31n;

/** The 64-bit id of the 32-bit `raw` nearest to `reference`. */
function inEpochOf(reference: bigint, raw: bigint): bigint {
  const full = (reference & ~(EPOCH - 1n)) | raw;
  if (full - reference > HALF) return full - EPOCH;
  if (reference - full > HALF) return full + EPOCH;
  return full;
}
