import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { createTestTenant, TEST_ADMIN_KEY } from '../support/gateway.js';
import { waitForLedgerRows } from '../support/ledger.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { dropKeys } from '../support/stores.js';
import { LOCALHOST_CERT, tlsFront, type TlsFront } from '../support/tls-front.js';
import { processDatabase, spawnGateway, type GatewayProcess } from './support/gateway-process.js';

const runs = databaseUrl() !== undefined && redisUrl() !== undefined;

/**
 * Managed PostgreSQL and Redis are reached over TLS, by a host name, and the certificate is
 * checked: here both sit behind TLS fronts with a certificate for localhost that the gateway
 * process trusts through NODE_EXTRA_CA_CERTS, as an operator would add a provider's CA.
 */
describe.skipIf(!runs)(
  runs ? 'a gateway on PostgreSQL and Redis behind verified TLS' : 'a gateway on PostgreSQL and Redis behind verified TLS (set TEST_DATABASE_URL and TEST_REDIS_URL to run)',
  () => {
    const prefix = `bgtest:${randomUUID()}:`;
    let sim: SimLiteLLM;
    let database: Awaited<ReturnType<typeof processDatabase>>;
    let db: Database;
    let postgresFront: TlsFront;
    let redisFront: TlsFront;
    let gateway: GatewayProcess;

    beforeAll(async () => {
      sim = await startSimLiteLLM();
      database = await processDatabase();
      db = await database.open();
      const postgres = new URL(database.env.DATABASE_URL!);
      const redis = new URL(redisUrl()!);
      postgresFront = await tlsFront({ host: postgres.hostname, port: Number(postgres.port || 5432) }, 'postgres');
      redisFront = await tlsFront({ host: redis.hostname, port: Number(redis.port || 6379) }, 'direct');
      postgres.host = `localhost:${postgresFront.port}`;
      postgres.searchParams.set('sslmode', 'verify-full');
      gateway = await spawnGateway({
        DATABASE_URL: postgres.toString(),
        REDIS_URL: `rediss://localhost:${redisFront.port}`,
        REDIS_PREFIX: prefix,
        LITELLM_BASE_URL: sim.url,
        ADMIN_API_KEY: TEST_ADMIN_KEY,
        NODE_EXTRA_CA_CERTS: fileURLToPath(LOCALHOST_CERT),
      });
    }, 60_000);
    afterAll(async () => {
      await gateway?.stop();
      await postgresFront?.close();
      await redisFront?.close();
      await sim?.close();
      await database?.close();
      await dropKeys(redisUrl()!, prefix);
    });

    it('serves, charges in Redis and writes the ledger to PostgreSQL, each over TLS, naming the host for SNI', async () => {
      const tenant = await createTestTenant(db.db);
      const client = new OpenAI({ apiKey: tenant.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 })
        .withResponse();
      expect(data.choices[0]?.message.content).toBeTruthy();
      expect(response.headers.get('x-budget-status')).toBe('ok');

      // The ledger row travelled through the Redis stream (over TLS) to PostgreSQL (over TLS).
      const [row] = await waitForLedgerRows(db.db, tenant.tenantId, 1);
      expect(row?.requestId).toBe(response.headers.get('x-request-id'));
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
      // The request path's pool and the ledger consumer's thread, each with its own connections.
      expect(postgresFront.serverNames.length).toBeGreaterThanOrEqual(2);
      expect(new Set(postgresFront.serverNames)).toEqual(new Set(['localhost']));
      expect(redisFront.serverNames.length).toBeGreaterThanOrEqual(2);
      expect(new Set(redisFront.serverNames)).toEqual(new Set(['localhost']));
    });
  },
);
