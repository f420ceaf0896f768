import { mkdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { binaryCopyObjects, copyStatement, type CopyColumn } from './copy-binary.js';
import { copyIn } from './postgres-copy.js';
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
  /**
   * A bulk load of JSON objects (one text each, keyed by column name) with COPY in binary format
   * (`binaryCopy`), all or nothing; the rows loaded. PGlite's runs in its thread
   * (`PgliteThread.copyJson`), PostgreSQL's on one of the pool's connections (`copyIn`).
   */
  readonly copyJson: (table: string, columns: readonly CopyColumn[], objects: readonly string[]) => Promise<number>;
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
    ...(oneHost(url) ? { socket: openWithoutDelay } : {}),
    // CREATE ... IF NOT EXISTS and friends emit notices; they are not worth a log line.
    onnotice: () => {},
    ...(searchPath === undefined ? {} : { connection: { search_path: searchPath } }),
  });
  const db = drizzlePostgres({ client, schema });
  return {
    db,
    kind: 'postgres',
    connection,
    copyJson: async (table, columns, objects) => {
      const { rows, bytes } = binaryCopyObjects(objects, columns);
      await copyIn(client, copyStatement(table, columns, 'stdin'), bytes);
      // All or nothing: the server took every row.
      return rows;
    },
    ping: () => ping(db),
    close: () => client.end({ timeout: 5 }),
  };
}

/** Whether a PostgreSQL URL names one host (`postgres://a,b/db` names two). */
function oneHost(url: string): boolean {
  return !/^[^/]*\/\/[^/?#]*,/.test(url);
}

/**
 * A connection for postgres-js (its documented `socket` option), opened with TCP_NODELAY.
 * postgres-js opens its own with Nagle's algorithm on, and then a COPY's closing message (5
 * bytes, sent apart from the data) waits for the server's delayed acknowledgement of the data
 * before it leaves: about 40 ms per ledger batch on Linux (10,100 rows/s written against 35,000,
 * measured on loopback). Used when the URL names one host. The socket is handed over while it
 * connects, as postgres-js's own would be: what it writes waits for the connection, and a
 * refusal, a reset or its own connect timeout reach it through the socket's events as usual.
 */
function openWithoutDelay(options: { host: readonly string[]; port: readonly number[]; path?: string | false }): Socket {
  if (options.path) return createConnection({ path: options.path });
  const host = options.host[0] ?? 'localhost';
  // postgres-js names the server for TLS (SNI) from its socket's `host`, which it sets on sockets
  // of its own only: without it, no name is sent, and proxies in front of managed databases that
  // route by it (Neon's, for one) turn the connection away.
  return Object.assign(createConnection({ host, port: options.port[0] ?? 5432, noDelay: true }), { host });
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
    copyJson: (table, columns, objects) => client.copyJson(table, columns, objects),
    runAsBackground: () => client.runAsBackground(),
    ping: () => ping(db),
    close: () => client.close(),
  };
}

async function ping(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}
