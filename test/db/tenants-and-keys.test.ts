import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createKey, findActiveKey, findKeyOwner, hashKey, KeyAlreadyRegisteredError, mintKey, revokeKey } from '../../src/db/keys.js';
import { activeOverride, grantOverride } from '../../src/db/overrides.js';
import { apiKeys, budgetOverrides } from '../../src/db/schema.js';
import { deleteTenant, getTenant, listTenants, upsertTenant } from '../../src/db/tenants.js';
import { forEachDatabase } from '../support/databases.js';
import { createTenant, tenantConfig, tenantId } from '../support/tenants.js';

const DAY = 86_400_000;

describe('key material', () => {
  it('hashes a key to hex SHA-256', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('mints distinct sk-bg- keys of 32 base62 characters', () => {
    const keys = new Set(Array.from({ length: 1000 }, mintKey));
    expect(keys.size).toBe(1000);
    for (const key of keys) expect(key).toMatch(/^sk-bg-[0-9A-Za-z]{32}$/);
  });
});

// One database per backend for the whole file: a PGlite start costs more than all of these tests.
forEachDatabase('tenants and keys', (t) => {
  describe('tenants', () => {
    it('creates a tenant, then replaces its config and keeps its period', async () => {
      const config = tenantConfig({ name: 'Acme', upstreamKey: 'sk-upstream' });
      const first = await upsertTenant(t.db, config);
      expect(first.created).toBe(true);
      expect(first.tenant).toMatchObject({
        tenantId: config.tenantId,
        name: 'Acme',
        maxBudgetMicros: 100_000_000,
        periodStartedAt: config.firstPeriod.startedAt,
        budgetResetAt: config.firstPeriod.resetAt,
        upstreamKey: 'sk-upstream',
        deletedAt: null,
      });

      const later = new Date(config.firstPeriod.startedAt.getTime() + DAY);
      const second = await upsertTenant(t.db, {
        ...config,
        name: null,
        maxBudgetMicros: 250_500_001,
        alertThreshold: 50,
        budgetDuration: '1mo',
        firstPeriod: { startedAt: later, resetAt: new Date(later.getTime() + 30 * DAY) },
        upstreamKey: undefined,
      });
      expect(second.created).toBe(false);
      expect(second.tenant).toMatchObject({
        name: null,
        maxBudgetMicros: 250_500_001,
        alertThreshold: 50,
        budgetDuration: '1mo',
        periodStartedAt: config.firstPeriod.startedAt,
        budgetResetAt: config.firstPeriod.resetAt,
        upstreamKey: 'sk-upstream',
        createdAt: first.tenant.createdAt,
      });
    });

    it('moves the period end only when a reset time is given; null clears the upstream key', async () => {
      const config = tenantConfig({ upstreamKey: 'sk-upstream' });
      await upsertTenant(t.db, config);
      const resetAt = new Date('2031-01-01T00:00:00Z');
      const { tenant } = await upsertTenant(t.db, { ...config, budgetResetAt: resetAt, upstreamKey: null });
      expect(tenant.budgetResetAt).toEqual(resetAt);
      expect(tenant.periodStartedAt).toEqual(config.firstPeriod.startedAt);
      expect(tenant.upstreamKey).toBeNull();
    });

    it('gets a live tenant, not an unknown or deleted one', async () => {
      const config = tenantConfig();
      await upsertTenant(t.db, config);
      expect((await getTenant(t.db, config.tenantId))?.tenantId).toBe(config.tenantId);
      expect(await getTenant(t.db, 'no-such-tenant')).toBeUndefined();

      expect(await deleteTenant(t.db, config.tenantId)).toBe(true);
      expect(await getTenant(t.db, config.tenantId)).toBeUndefined();
      expect(await deleteTenant(t.db, config.tenantId)).toBe(false);
    });

    it('re-creates a deleted tenant as new: new period, no old keys, no old override', async () => {
      const config = tenantConfig();
      await upsertTenant(t.db, config);
      const { key } = await createKey(t.db, config.tenantId);
      const expiresAt = new Date(Date.now() + DAY);
      await t.db.insert(budgetOverrides).values({
        tenantId: config.tenantId,
        overrideAmountMicros: 1_000_000,
        expiresAt,
        reason: 'launch week traffic',
        createdBy: 'admin',
      });
      await deleteTenant(t.db, config.tenantId);

      const startedAt = new Date(config.firstPeriod.startedAt.getTime() + DAY);
      const firstPeriod = { startedAt, resetAt: new Date(startedAt.getTime() + DAY) };
      const again = await upsertTenant(t.db, { ...config, firstPeriod });
      expect(again.created).toBe(true);
      expect(again.tenant.periodStartedAt).toEqual(startedAt);
      expect(again.tenant.deletedAt).toBeNull();
      expect(await findActiveKey(t.db, hashKey(key))).toBeUndefined();
      expect(await activeOverride(t.db, config.tenantId, new Date())).toBeUndefined();
    });

    it('lists live tenants in id order, page by page', async () => {
      const prefix = tenantId('list');
      const ids = ['c', 'a', 'e', 'b', 'd'].map((suffix) => `${prefix}-${suffix}`);
      for (const id of ids) await upsertTenant(t.db, tenantConfig({ tenantId: id }));
      await deleteTenant(t.db, `${prefix}-d`);

      const seen: string[] = [];
      // Start just before this test's ids, so tenants of other tests sort outside the window.
      let cursor: string | null = `${prefix}-`;
      while (cursor !== null) {
        const page = await listTenants(t.db, { limit: 2, cursor });
        const mine = page.data.map((tenant) => tenant.tenantId).filter((id) => id.startsWith(prefix));
        seen.push(...mine);
        cursor = mine.length === page.data.length ? page.nextCursor : null;
      }
      expect(seen).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`, `${prefix}-e`]);
    });
  });

  describe('api keys', () => {
    it('mints a key and stores only its hash and prefix', async () => {
      const tenant = await createTenant(t.db);
      const created = await createKey(t.db, tenant.tenantId);
      expect(created).toMatchObject({ origin: 'minted', prefix: created.key.slice(0, 10) });
      expect(created.keyId).toMatch(/^key_[0-9A-Za-z]{16}$/);

      const rows = await t.db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenant.tenantId));
      expect(rows).toHaveLength(1);
      expect(rows[0]!.keyHash).toBe(hashKey(created.key));
      expect(JSON.stringify(rows)).not.toContain(created.key);
    });

    it('registers an existing key as is, and refuses it a second time', async () => {
      const tenant = await createTenant(t.db);
      const key = `sk-litellm-${tenant.tenantId}`;
      const created = await createKey(t.db, tenant.tenantId, { key });
      expect(created).toMatchObject({ key, origin: 'registered', prefix: 'sk-litellm' });
      expect(await findActiveKey(t.db, hashKey(key))).toEqual({
        keyId: created.keyId,
        tenantId: tenant.tenantId,
        origin: 'registered',
        maxBudgetMicros: null,
      });

      const other = await createTenant(t.db);
      await expect(createKey(t.db, other.tenantId, { key })).rejects.toThrow(KeyAlreadyRegisteredError);
    });

    it('does not find an unknown key', async () => {
      expect(await findActiveKey(t.db, hashKey(mintKey()))).toBeUndefined();
    });

    it('stops finding a key once it is revoked', async () => {
      const tenant = await createTenant(t.db);
      const { keyId, key } = await createKey(t.db, tenant.tenantId);
      expect(await revokeKey(t.db, 'another-tenant', keyId)).toBeUndefined();
      expect(await findActiveKey(t.db, hashKey(key))).toBeDefined();

      expect(await revokeKey(t.db, tenant.tenantId, keyId)).toEqual({ keyHash: hashKey(key), prefix: key.slice(0, 10) });
      expect(await findActiveKey(t.db, hashKey(key))).toBeUndefined();
      expect(await revokeKey(t.db, tenant.tenantId, keyId)).toBeUndefined();
    });

    it("does not find a deleted tenant's keys", async () => {
      const tenant = await createTenant(t.db);
      const { key } = await createKey(t.db, tenant.tenantId);
      expect(await deleteTenant(t.db, tenant.tenantId)).toBe(true);
      expect(await findActiveKey(t.db, hashKey(key))).toBeUndefined();
      expect(await findKeyOwner(t.db, hashKey(key), new Date())).toBeUndefined();
    });

    it('finds a key with its tenant and the override in force, in one statement', async () => {
      const tenant = await createTenant(t.db);
      const { keyId, key } = await createKey(t.db, tenant.tenantId, { maxBudgetMicros: 5_000_000 });
      const now = new Date();
      expect(await findKeyOwner(t.db, hashKey(key), now)).toEqual({
        key: { keyId, tenantId: tenant.tenantId, origin: 'minted', maxBudgetMicros: 5_000_000 },
        tenant: await getTenant(t.db, tenant.tenantId),
        override: undefined,
      });

      const expiresAt = new Date(now.getTime() + DAY);
      const grant = { tenantId: tenant.tenantId, amountMicros: 50_000_000, expiresAt, reason: 'launch', createdBy: 'admin:test', now, replace: false };
      const granted = await grantOverride(t.db, grant);
      expect(granted.kind).toBe('granted');
      const owner = await findKeyOwner(t.db, hashKey(key), now);
      expect(owner?.override).toEqual(await activeOverride(t.db, tenant.tenantId, now));
      expect(owner?.override).toMatchObject({ overrideAmountMicros: 50_000_000, expiresAt });
      // Expired at the second it expires, though no job has ended it: the key is still found.
      expect(await findKeyOwner(t.db, hashKey(key), expiresAt)).toMatchObject({ key: { keyId }, override: undefined });

      await revokeKey(t.db, tenant.tenantId, keyId);
      expect(await findKeyOwner(t.db, hashKey(key), now)).toBeUndefined();
      expect(await findKeyOwner(t.db, hashKey(mintKey()), now)).toBeUndefined();
    });
  });
});
