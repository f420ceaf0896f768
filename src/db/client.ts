import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { CopyColumn } from './copy-binary.js';
import { PgliteThread } from './pglite-thread.js';
import * as schema from './schema.js';

/**
 * One typed handle over either PostgreSQL (postgres-js) or the embedded PGlite: the query code
 * and the migrator are written once against `Db` and never ask which one they have.
 */

/** The drizzle database both drivers satisfy; a transaction (`tx`) is one too. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** How to open another connection to a PostgreSQL database (a worker thread cannot share ours). */
export interface PostgresConnection {
  readonly url: string;
  readonly searchPath?: string | undefined;
}

export interface Database {
  readonly db: Db;
  readonly kind: 'postgres' | 'pglite';
  /** PostgreSQL only: where it is, for connections of another thread. */
  readonly connection?: PostgresConnection;
  /** PGlite only: a bulk load of JSON objects with COPY (see `PgliteThread.copyJson`). */
  readonly copyJson?: (table: string, columns: readonly CopyColumn[], json: string) => Promise<number>;
  /** PGlite only: its thread at idle scheduling priority (see `PgliteThread.runAsBackground`). */
  readonly runAsBackground?: () => Promise<void>;
  /** Resolves when the database answers a query (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL; without it the embedded PGlite in `dataDir` is used. */
  readonly databaseUrl?: string | undefined;
  /** Folder of the embedded database, created if missing. */
  readonly dataDir: string;
  /** PostgreSQL only: the schema every unqualified name resolves to (tests isolate themselves with it). */
  readonly searchPath?: string | undefined;
  /** PostgreSQL only: connections at most (default 10). */
  readonly poolSize?: number;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  return options.databaseUrl === undefined
    ? openPglite(options.dataDir)
    : openPostgres({ url: options.databaseUrl, searchPath: options.searchPath }, options.poolSize ?? 10);
}

function openPostgres(connection: PostgresConnection, poolSize: number): Database {
  const { url, searchPath } = connection;
  const client = postgres(url, {
    max: poolSize,
    // CREATE ... IF NOT EXISTS and friends emit notices; they are not worth a log line.
    onnotice: () => {},
    ...(searchPath === undefined ? {} : { connection: { search_path: searchPath } }),
  });
  const db = drizzlePostgres({ client, schema });
  return {
    db,
    kind: 'postgres',
    connection,
    ping: () => ping(db),
    close: () => client.end({ timeout: 5 }),
  };
}

/** PGlite runs in a thread of its own (see pglite-thread.ts), so its work never holds up requests. */
async function openPglite(dataDir: string): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  const client = await PgliteThread.open(dataDir);
  // drizzle's pglite driver uses only `query` and `transaction`, which the thread's client provides.
  const db = drizzlePglite({ client: client as unknown as PGlite, schema });
  return {
    db,
    kind: 'pglite',
    copyJson: (table, columns, json) => client.copyJson(table, columns, json),
    runAsBackground: () => client.runAsBackground(),
    ping: () => ping(db),
    close: () => client.close(),
  };
}

async function ping(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}
