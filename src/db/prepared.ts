import type { Db } from './client.js';

/**
 * Statements that drizzle builds once per database handle and afterwards only runs, with fresh
 * values in `sql.placeholder`s. Building a statement's SQL text from drizzle's objects costs more
 * of the gateway's CPU than anything else a key's first request does (drizzle's own code was a
 * fifth of it in a profile, for two statements), and the statements on that path never change
 * shape. `name` identifies the statement (and is its prepared name); `build` makes it.
 *
 * A placeholder's value reaches the driver as given, not through its column's encoder: a time
 * goes in as its ISO string.
 */
export function prepared<Q>(db: Db, name: string, build: () => Q): Q {
  let statements = byDatabase.get(db);
  if (statements === undefined) byDatabase.set(db, (statements = new Map()));
  let statement = statements.get(name) as Q | undefined;
  if (statement === undefined) statements.set(name, (statement = build()));
  return statement;
}

// Per handle: a transaction is a handle of its own, and a closed database takes its statements along.
const byDatabase = new WeakMap<Db, Map<string, unknown>>();
