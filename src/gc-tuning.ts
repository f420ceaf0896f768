import { setFlagsFromString } from 'node:v8';

/** The V8 flags `tuneGarbageCollection` sets, in this order. */
export const GC_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/**
 * Turns off V8's allocation-site pretenuring for this process (`--no-allocation-site-pretenuring`,
 * set at run time so that every way of starting the gateway gets it).
 *
 * Pretenuring is V8's guess that the objects an object literal makes will live long: once most of
 * a site's objects survive a young-generation collection, the site allocates straight into the
 * old generation. A gateway's objects live for one request. In about one gateway process in ten,
 * at random and for the rest of its life (a full collection did not end it), whole requests were
 * promoted: 2.1-2.7 MB per scavenge instead of 0.2-0.3 MB (embedded) or 0.06-0.07 MB (the plain
 * proxy), scavenge pauses 2-3x as long, up to twice the CPU per request. That fits a site on the
 * request path pretenured by mistake: its objects are old from birth, and the young objects they
 * point to survive every scavenge until the next full collection. With pretenuring off, none of
 * 44 processes fell into that state (bench/README.md, "What each change bought").
 */
export function tuneGarbageCollection(): void {
  for (const flag of GC_FLAGS) setFlagsFromString(flag);
}
