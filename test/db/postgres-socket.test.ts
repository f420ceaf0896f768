import { existsSync } from 'node:fs';
import type { NetConnectOpts } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { tlsFront } from '../support/tls-front.js';

/** Every connection the gateway's PostgreSQL pools open, as they asked for it. */
const opened: NetConnectOpts[] = [];
vi.mock('node:net', async (importOriginal) => {
  const net = await importOriginal<typeof import('node:net')>();
  const createConnection = (options: NetConnectOpts) => {
    opened.push(options);
    return net.createConnection(options);
  };
  return { ...net, createConnection, default: { ...net, createConnection } };
});

const url = process.env.TEST_DATABASE_URL;
const UNIX_SOCKET_DIR = '/var/run/postgresql';
const postgresAt = (at: string) => ({ host: new URL(at).hostname, port: Number(new URL(at).port || 5432) });
describe.skipIf(!url)(`PostgreSQL connections${url ? '' : ' (set TEST_DATABASE_URL to run)'}`, () => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
    opened.length = 0;
  });

  it("are opened with TCP_NODELAY, so a COPY's closing message does not wait for a delayed acknowledgement", async () => {
    database = await openDatabase({ databaseUrl: url, dataDir: '' });
    await database.db.execute(sql`select 1`);
    const { hostname, port } = new URL(url!);
    expect(opened).toEqual([{ host: hostname, port: Number(port || 5432), noDelay: true }]);
  });

  it.skipIf(!existsSync(`${UNIX_SOCKET_DIR}/.s.PGSQL.5432`))('go through a Unix socket when PGHOST names its folder', async () => {
    // postgres-js takes a socket folder from PGHOST when the URL names no host.
    const local = new URL(url!);
    vi.stubEnv('PGHOST', UNIX_SOCKET_DIR);
    vi.stubEnv('PGUSER', local.username);
    try {
      database = await openDatabase({ databaseUrl: `postgres://${local.pathname}`, dataDir: '' });
      await database.db.execute(sql`select 1`);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(opened).toEqual([{ path: `${UNIX_SOCKET_DIR}/.s.PGSQL.5432` }]);
  });

  it('speak TLS when the URL asks for it, naming the host for SNI as postgres-js itself does, and load COPYs through it', async () => {
    const front = await tlsFront(postgresAt(url!), 'postgres');
    try {
      const direct = new URL(url!);
      const secured = `postgres://${direct.username}@localhost:${front.port}${direct.pathname}?sslmode=require`;
      database = await openDatabase({ databaseUrl: secured, dataDir: '', poolSize: 1 });
      await database.db.execute(sql`create temporary table tls_copy (n int4, at timestamptz)`);
      const rows = [{ n: 1, at: '2030-01-01T00:00:00Z' }, { n: 2, at: '2030-01-01T00:00:00.001Z' }].map((row) => JSON.stringify(row));
      expect(await database.copyJson('tls_copy', [{ name: 'n', type: 'int4' }, { name: 'at', type: 'timestamptz' }], rows)).toBe(2);
      const result = (await database.db.execute(sql`select sum(n)::int as total from tls_copy`)) as unknown as { total: number }[];
      expect(result[0]).toEqual({ total: 3 });
      // The TLS session was made (the front saw its handshake), with the host named for SNI.
      expect(front.serverNames).toEqual(['localhost']);
      expect(opened).toEqual([{ host: 'localhost', port: front.port, noDelay: true }]);
    } finally {
      await database?.close();
      database = undefined;
      await front.close();
    }
  });

  it('check the certificate with sslmode=verify-full, and refuse one no authority signed', async () => {
    const front = await tlsFront(postgresAt(url!), 'postgres');
    try {
      const direct = new URL(url!);
      database = await openDatabase({ databaseUrl: `postgres://${direct.username}@localhost:${front.port}${direct.pathname}?sslmode=verify-full`, dataDir: '' });
      await expect(database.db.execute(sql`select 1`)).rejects.toMatchObject({ cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } });
    } finally {
      await database?.close();
      database = undefined;
      await front.close();
    }
  });

  it('fail as unreachable, with the driver error code, when nothing listens', async () => {
    database = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/test', dataDir: '' });
    await expect(database.db.execute(sql`select 1`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });
});
