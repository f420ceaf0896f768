import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { sql } from 'drizzle-orm';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { defaultMigrationsFolder } from '../../src/db/migrate.js';
import { BIN, budgetGateway, oneLineFailure } from '../support/cli.js';
import { freshPgliteDir, openTestDatabase, rowsOf } from '../support/databases.js';
import { closedPort, TEST_ADMIN_KEY } from '../support/gateway.js';

/** `budget-gateway migrate` (an init container's job) and `budget-gateway serve`, as processes. */

const journalTags = (): string[] =>
  (JSON.parse(readFileSync(`${defaultMigrationsFolder()}/meta/_journal.json`, 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);

describe('budget-gateway migrate', () => {
  it('applies every migration to an empty embedded database and exits 0; run again, it finds nothing to do', async () => {
    const dataDir = await freshPgliteDir(false);
    const first = await budgetGateway(['migrate'], { DATA_DIR: dataDir });
    expect(first).toEqual({ code: 0, stdout: `Applied to the embedded database in ${dataDir}: ${journalTags().join(', ')}.\n`, stderr: '' });
    const again = await budgetGateway(['migrate', '--json'], { DATA_DIR: dataDir });
    expect({ ...again, stdout: JSON.parse(again.stdout) }).toEqual({ code: 0, stdout: { applied: [] }, stderr: '' });
    expect(await budgetGateway(['migrate'], { DATA_DIR: dataDir })).toEqual({
      code: 0,
      stdout: `Nothing to apply: the embedded database in ${dataDir} is up to date.\n`,
      stderr: '',
    });

    const database = await openDatabase({ dataDir });
    try {
      const applied = await rowsOf<{ tag: string }>(database.db, sql`select tag from budget_gateway_migrations order by tag`);
      expect(applied.map((row) => row.tag)).toEqual(journalTags());
    } finally {
      await database.close();
    }
    // Three processes, each opening the embedded database.
  }, 60_000);

  const postgresUrl = process.env.TEST_DATABASE_URL;
  it.skipIf(!postgresUrl)(`applies every migration to DATABASE_URL${postgresUrl ? '' : ' (set TEST_DATABASE_URL to run)'}`, async () => {
    const target = await openTestDatabase('postgres', { migrated: false });
    try {
      // postgres-js passes unknown URL parameters on as connection settings: this schema only.
      const url = `${postgresUrl}?search_path=${target.options.searchPath}`;
      const result = await budgetGateway(['migrate'], { DATABASE_URL: url });
      expect(result).toEqual({ code: 0, stdout: `Applied to DATABASE_URL: ${journalTags().join(', ')}.\n`, stderr: '' });
      const applied = await rowsOf<{ tag: string }>(target.database.db, sql`select tag from budget_gateway_migrations order by tag`);
      expect(applied.map((row) => row.tag)).toEqual(journalTags());
    } finally {
      await target.close();
    }
  });

  it('exits 1 with one line when the database cannot be reached', async () => {
    const port = await closedPort();
    expect(await budgetGateway(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/budget` })).toEqual(
      oneLineFailure(1, `budget-gateway: migrate failed on DATABASE_URL: connect ECONNREFUSED 127.0.0.1:${port}`),
    );
  });

  it('exits 1 with one line naming a bad variable, like the gateway itself', async () => {
    expect(await budgetGateway(['migrate'], { PORT: 'eighty' })).toEqual(
      oneLineFailure(1, 'budget-gateway: invalid configuration: PORT: must be an integer from 0 to 65535 (got "eighty")'),
    );
  });
});

describe('budget-gateway serve', () => {
  it('runs the gateway as npm start does: it listens, serves the admin API and page, and stops on SIGTERM with exit 0', async () => {
    const dataDir = await freshPgliteDir(true);
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir, ADMIN_API_KEY: TEST_ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let url: string | undefined;
    for await (const line of createInterface({ input: child.stdout! })) {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'budget-gateway listening') {
        url = entry.url;
        break;
      }
    }
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tenants = await request(`${url}/admin/tenants`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    expect(tenants.statusCode).toBe(200);
    await tenants.body.dump();
    const page = await request(`${url}/admin/ui`);
    expect(page.statusCode).toBe(200);
    await page.body.dump();

    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });
});
