import { describe, expect, it } from 'vitest';
import { adminApi } from '../support/admin.js';
import { budgetGateway, oneLineFailure } from '../support/cli.js';
import { closedPort, TEST_ADMIN_KEY, withSimAndGateway } from '../support/gateway.js';
import { recordSpend } from '../support/ledger.js';
import { tenantId } from '../support/tenants.js';

/** The admin commands of `budget-gateway`, run as processes against a real gateway (CONTRACT section 12). */

const USD = 1_000_000;
const suite = withSimAndGateway();
const admin = () => adminApi(suite.gateway.url);
const run = (...args: string[]) => budgetGateway([...args, '--url', suite.gateway.url], { ADMIN_API_KEY: TEST_ADMIN_KEY });
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 5 };

describe('budget-gateway tenant', () => {
  it('create prints the new tenant, show --json prints the API view, list has a row for it', async () => {
    const id = tenantId('cli');
    const created = await run('tenant', 'create', id, '--max-budget', '250', '--alert-threshold', '75', '--name', 'Acme Corp');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(new RegExp(`^tenant +${id}$`, 'm'));
    expect(created.stdout).toMatch(/^name +Acme Corp$/m);
    expect(created.stdout).toMatch(/^spend +\$0\.00 of \$250\.00 \(0\.0%\)$/m);
    expect(created.stdout).toMatch(/^thresholds +alert at 75%, blocked at 110%$/m);

    const shown = await run('tenant', 'show', id, '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual((await admin().get(`/tenants/${id}`)).body);

    const listed = await run('tenant', 'list');
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TENANT +STATUS +SPEND +BUDGET +USED +RESETS AT +OVERRIDE$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${id} +ok +\\$0\\.00 +\\$250\\.00 +0\\.0% +\\S+Z +-$`)));
  });

  it('create refuses an existing tenant unless --replace, which keeps the spend of the period', async () => {
    const { tenantId: id } = await suite.gateway.createTenant({ maxBudgetMicros: 100 * USD });
    await recordSpend(suite.gateway.db, id, 40 * USD);
    expect(await run('tenant', 'create', id, '--max-budget', '200')).toEqual(
      oneLineFailure(1, `budget-gateway: tenant ${id} exists already; pass --replace to replace its configuration`),
    );
    const replaced = await run('tenant', 'create', id, '--max-budget', '200', '--replace');
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toMatch(/^spend +\$40\.00 of \$200\.00 \(20\.0%\)$/m);
  });
});

describe('budget-gateway key', () => {
  it('add mints a key, shown once, that works at once; revoke stops it', async () => {
    const { tenantId: id } = await suite.gateway.createTenant();
    const added = await run('key', 'add', id, '--json');
    expect(added.code).toBe(0);
    const key = JSON.parse(added.stdout) as { key_id: string; key: string; prefix: string };
    expect(key.key.startsWith(key.prefix)).toBe(true);
    expect((await suite.gateway.client({ apiKey: key.key }).chat.completions.create(chat)).choices).toHaveLength(1);

    const revoked = await run('key', 'revoke', id, key.key_id);
    expect(revoked).toEqual({ code: 0, stdout: `Revoked key ${key.key_id} of tenant ${id}.\n`, stderr: '' });
    await expect(suite.gateway.client({ apiKey: key.key }).chat.completions.create(chat)).rejects.toMatchObject({ status: 401 });
  });
});

describe('budget-gateway override and reset', () => {
  it("override grant lifts a block, override remove restores it, reset clears the period's spend", async () => {
    const tenant = await suite.gateway.createTenant({ maxBudgetMicros: 100 * USD });
    await recordSpend(suite.gateway.db, tenant.tenantId, 110 * USD);
    const ask = () => suite.gateway.client({ apiKey: tenant.key }).chat.completions.create(chat);
    await expect(ask()).rejects.toMatchObject({ status: 402 });

    const granted = await run('override', 'grant', tenant.tenantId, '--amount', '50', '--duration', '24h', '--reason', 'quarter-end batch jobs');
    expect(granted.code).toBe(0);
    expect(granted.stdout).toMatch(/^override +\$50\.00\nbudget now +\$150\.00\nexpires at +\S+Z$/m);
    expect((await ask()).choices).toHaveLength(1);

    const removed = await run('override', 'remove', tenant.tenantId);
    expect(removed.stdout).toBe(`Removed the override of tenant ${tenant.tenantId}: its budget is $100.00 again.\n`);
    await expect(ask()).rejects.toMatchObject({ status: 402 });

    const reset = await run('reset', tenant.tenantId, '--json');
    expect(JSON.parse(reset.stdout)).toMatchObject({ tenant_id: tenant.tenantId, spend: 0, status: 'ok' });
    expect((await ask()).choices).toHaveLength(1);
  });
});

describe('budget-gateway failures', () => {
  it("exit 1 with one line that carries the API's own message: 422 with every field's details", async () => {
    const { tenantId: id } = await suite.gateway.createTenant();
    const invalid = ['--amount', '0', '--duration', '1mo', '--reason', 'too short'];
    const answer = await admin().post(`/tenants/${id}/budget-override`, { override_amount: 0, duration: '1mo', reason: 'too short' });
    const details = answer.body.error.details.map((d: { path: string; message: string }) => `${d.path}: ${d.message}`).join('; ');
    expect(details).toMatch(/^override_amount: .+; duration: .+; reason: .+$/);
    expect(await run('override', 'grant', id, ...invalid)).toEqual(
      oneLineFailure(1, `budget-gateway: POST /admin/tenants/${id}/budget-override: 422 invalid_field: ${details}`),
    );
  });

  it('exit 1 with one line for 404, 409 and a wrong admin key', async () => {
    const { tenantId: id } = await suite.gateway.createTenant();
    expect(await run('tenant', 'show', 'no-such-tenant')).toEqual(
      oneLineFailure(1, 'budget-gateway: GET /admin/tenants/no-such-tenant: 404 not_found: No tenant "no-such-tenant".'),
    );
    const grant = ['override', 'grant', id, '--amount', '5', '--duration', '1h', '--reason', 'load test this afternoon'];
    expect((await run(...grant)).code).toBe(0);
    expect(await run(...grant)).toEqual(oneLineFailure(1, /budget-gateway: POST \S+: 409 override_active: .+ already has an active override .+/));
    expect(await run('tenant', 'list', '--admin-key', 'not-the-admin-key')).toEqual(
      oneLineFailure(1, /budget-gateway: GET \/admin\/tenants\?limit=500: 401 invalid_api_key: Missing or invalid admin key.*/),
    );
  });

  it('exit 1 with one line when the gateway cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    expect(await budgetGateway(['tenant', 'list', '--url', url], { ADMIN_API_KEY: TEST_ADMIN_KEY })).toEqual(
      oneLineFailure(1, `budget-gateway: cannot reach the admin API at ${url}/admin: ECONNREFUSED`),
    );
  });
});
