import { existsSync } from 'node:fs';
import type { NetConnectOpts } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';

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

  it('fail as unreachable, with the driver error code, when nothing listens', async () => {
    database = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/test', dataDir: '' });
    await expect(database.db.execute(sql`select 1`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });
});
