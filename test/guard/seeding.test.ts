import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTenant } from '../../src/db/tenants.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

describe('tenants seeded from CONFIG_FILE', () => {
  const tenantId = `acme-${randomUUID().slice(0, 8)}`;
  const key = `sk-litellm-${randomUUID()}`;
  let sim: SimLiteLLM;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = await startSimLiteLLM();
    const file = join(mkdtempSync(join(tmpdir(), 'bg-seed-')), 'gateway.yaml');
    writeFileSync(
      file,
      `tenant_defaults: { alert_threshold: 75, budget_duration: 7d }\n` +
        `tenants:\n  - { tenant_id: ${tenantId}, name: Acme, max_budget: 12.5, keys: [${key}] }\n`,
    );
    gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, CONFIG_FILE: file });
  });
  afterAll(async () => {
    await gateway.shutdown();
    await sim.close();
  });

  it('creates the tenant with the defaults filled in and registers its keys', async () => {
    expect(await getTenant(gateway.db, tenantId)).toMatchObject({
      name: 'Acme',
      maxBudgetMicros: 12_500_000,
      alertThreshold: 75,
      graceThreshold: 110,
      budgetDuration: '7d',
    });
    const { response } = await gateway
      .client({ apiKey: key })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(response.headers.get('x-budget-limit')).toBe('12.5');
  });

  it('leaves a tenant that exists alone on the next start: the database is the truth', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bg-seed-')), 'gateway.yaml');
    writeFileSync(file, `tenants:\n  - { tenant_id: ${tenantId}, max_budget: 999, keys: [${key}] }\n`);
    const restarted = await startTestGateway({ LITELLM_BASE_URL: sim.url, CONFIG_FILE: file });
    expect((await getTenant(restarted.db, tenantId))?.maxBudgetMicros).toBe(12_500_000);
    await restarted.shutdown();
  });
});
