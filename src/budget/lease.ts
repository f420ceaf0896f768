import type { BucketReservation, BucketState } from './spend-store.js';

/**
 * How much a reservation takes (CONTRACT section 3 stays exact): a plain request takes its
 * estimate; a headroom lease takes up to `wanted`, but only while that is at most a quarter of
 * what is left below the line, so several replicas can lease at once and the slices shrink to a
 * single request as the line comes near. Both stores apply this rule, Redis in Lua.
 */
export function leaseGrant(bucket: BucketReservation, state: BucketState): number {
  const wanted = bucket.wanted ?? bucket.amount;
  if (wanted <= bucket.amount) return bucket.amount;
  const share = Math.floor((bucket.blockLine - state.spend - state.reserved) / LEASE_SHARE);
  return share >= wanted ? wanted : Math.max(bucket.amount, share);
}

/** A lease is at most 1/LEASE_SHARE of the headroom left when it is taken. */
export const LEASE_SHARE = 4;
