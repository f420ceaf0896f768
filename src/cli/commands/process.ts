import type { ProcessCommand } from '../command.js';
import { CliError } from '../command.js';

/**
 * `serve` and `migrate`: the gateway process itself, configured by the environment exactly like
 * `npm start` (CONTRACT section 1). Loaded on demand, so the admin commands start without
 * opening drivers they never use.
 */

export const serve: ProcessCommand = {
  kind: 'process',
  words: ['serve'],
  summary: 'Run the gateway (configured by the environment, as in the README).',
  args: [],
  options: {},
  examples: ['LITELLM_BASE_URL=http://127.0.0.1:4000 ADMIN_API_KEY=... budget-gateway serve'],
  async run() {
    const { serve: serveGateway } = await import('../../serve.js');
    await serveGateway();
    return undefined;
  },
};

export const migrate: ProcessCommand = {
  kind: 'process',
  words: ['migrate'],
  summary: 'Apply pending migrations to DATABASE_URL (or the embedded DATA_DIR) and exit: for an init container.',
  args: [],
  options: { json: { type: 'boolean', description: 'print {"applied": [tags]} instead of a sentence' } },
  examples: ['DATABASE_URL=postgres://budget:budget@postgres:5432/budget budget-gateway migrate'],
  async run() {
    const [{ processConfig }, { openDatabase }, { migrateUp }] = await Promise.all([
      import('../../serve.js'),
      import('../../db/client.js'),
      import('../../db/migrate.js'),
    ]);
    const config = processConfig();
    const where = config.databaseUrl === undefined ? `the embedded database in ${config.dataDir}` : 'DATABASE_URL';
    try {
      const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      try {
        const applied = await migrateUp(database);
        const text = applied.length === 0 ? `Nothing to apply: ${where} is up to date.` : `Applied to ${where}: ${applied.join(', ')}.`;
        return { json: { applied }, text };
      } finally {
        await database.close();
      }
    } catch (err) {
      throw new CliError(`migrate failed on ${where}: ${(err as Error).message}`);
    }
  },
};
