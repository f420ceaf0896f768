import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createKey, findKeyOwner, hashKey } from '../../src/db/keys.js';
import { deleteGlobalBudget, putGlobalBudget } from '../../src/db/global-budget.js';
import { getTenant, upsertTenant } from '../../src/db/tenants.js';
import { TenantDirectory } from '../../src/guard/tenant-directory.js';
import { forEachDatabase } from '../support/databases.js';
import { tenantConfig } from '../support/tenants.js';

// How the directory reads a key's first request: one query for the key, its tenant and the
// tenant's override, and never a tenant cached from a row read before an invalidation.

vi.mock('../../src/db/keys.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/db/keys.js')>();
  return { ...real, findKeyOwner: vi.fn(real.findKeyOwner) };
});
vi.mock('../../src/db/tenants.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/db/tenants.js')>();
  return { ...real, getTenant: vi.fn(real.getTenant) };
});

const realKeys = await vi.importActual<typeof import('../../src/db/keys.js')>('../../src/db/keys.js');

forEachDatabase('tenant directory', (t) => {
  beforeEach(() => {
    vi.mocked(findKeyOwner).mockClear();
    vi.mocked(getTenant).mockClear();
  });

  it("answers a key's first request with one query, and keeps the tenant it brought", async () => {
    const config = tenantConfig();
    await upsertTenant(t.db, config);
    const { key, keyId } = await createKey(t.db, config.tenantId);
    const directory = new TenantDirectory(t.db, Date.now);

    const caller = await directory.resolve(key);
    expect(caller).toMatchObject({ keyId, origin: 'minted', tenant: { tenantId: config.tenantId, maxBudgetMicros: 100_000_000, override: undefined } });
    expect(findKeyOwner).toHaveBeenCalledTimes(1);
    expect(getTenant).not.toHaveBeenCalled();

    // Cached: a second request asks nothing, and a change seen only after an invalidation.
    await upsertTenant(t.db, { ...config, maxBudgetMicros: 20_000_000 });
    expect((await directory.resolve(key))?.tenant.maxBudgetMicros).toBe(100_000_000);
    expect(findKeyOwner).toHaveBeenCalledTimes(1);
    directory.forgetTenant(config.tenantId);
    expect((await directory.resolve(key))?.tenant.maxBudgetMicros).toBe(20_000_000);
  });

  it('does not cache a tenant read before an invalidation that came during the lookup', async () => {
    const config = tenantConfig();
    await upsertTenant(t.db, config);
    const { key } = await createKey(t.db, config.tenantId);
    const directory = new TenantDirectory(t.db, Date.now);

    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let read: Promise<unknown> | undefined;
    vi.mocked(findKeyOwner).mockImplementationOnce(async (db, hash, now) => {
      const owner = realKeys.findKeyOwner(db, hash, now);
      read = owner;
      const found = await owner; // the old row, read before the change below
      await gate;
      return found;
    });
    const resolving = directory.resolve(key);
    await vi.waitFor(() => expect(read).toBeDefined());
    await read;
    expect((await read as { tenant: { maxBudgetMicros: number } }).tenant.maxBudgetMicros).toBe(100_000_000);

    // An admin changes the tenant and this replica is told, while the lookup is still under way.
    await upsertTenant(t.db, { ...config, maxBudgetMicros: 20_000_000 });
    directory.forgetTenant(config.tenantId);
    open();

    expect((await resolving)?.tenant.maxBudgetMicros).toBe(20_000_000);
    expect((await directory.tenant(config.tenantId))?.maxBudgetMicros).toBe(20_000_000);
    expect(getTenant).toHaveBeenCalledTimes(1);
  });

  it('answers from its cache without waiting once a lookup has settled, and waits again after any invalidation', async () => {
    const config = tenantConfig();
    await upsertTenant(t.db, config);
    const { key } = await createKey(t.db, config.tenantId);
    const directory = new TenantDirectory(t.db, Date.now);

    expect(directory.known(key)).toBeUndefined();
    const looking = directory.resolve(key);
    expect(directory.known(key)).toBeUndefined();
    const caller = await looking;
    expect(directory.known(key)).toEqual(caller);
    expect(directory.known(key)?.tenant).toBe(caller?.tenant);

    directory.forgetKey(hashKey(key));
    expect(directory.known(key)).toBeUndefined();
    await directory.resolve(key);
    directory.forgetTenant(config.tenantId);
    expect(directory.known(key)).toBeUndefined();
    await directory.resolve(key);
    directory.forgetAll();
    expect(directory.known(key)).toBeUndefined();

    // A tenant gone: the key's caller is known to be none, as `resolve` says.
    await directory.resolve(key);
    directory.forgetTenant(config.tenantId);
    vi.mocked(getTenant).mockResolvedValueOnce(undefined);
    expect(await directory.resolve(key)).toBeUndefined();
    // forgetTenant also let go of the tenant's keys: this looks the key up again.
    expect(directory.known(key)).toBeUndefined();
    expect(await directory.resolve(key)).toBeUndefined();
    expect(directory.known(key)).toBeNull();

    expect(directory.known('sk-bg-nobody')).toBeUndefined();
    await directory.resolve('sk-bg-nobody');
    expect(directory.known('sk-bg-nobody')).toBeNull();
  });

  it('gives the global cap at once once it has been read, and reads it again after it changed', async () => {
    const directory = new TenantDirectory(t.db, Date.now);
    await deleteGlobalBudget(t.db);
    const none = directory.global();
    expect(none).toBeInstanceOf(Promise);
    expect(await none).toBeUndefined();
    expect(directory.global()).toBeUndefined();

    const now = Date.now();
    await putGlobalBudget(t.db, {
      maxBudgetMicros: 5_000_000,
      alertThreshold: 80,
      alertThresholds: null,
      graceThreshold: 110,
      budgetDuration: '30d',
      firstPeriod: { startedAt: new Date(now), resetAt: new Date(now + 30 * 86_400_000) },
    });
    expect(directory.global()).toBeUndefined();
    directory.forgetGlobal();
    const reading = directory.global();
    expect(reading).toBeInstanceOf(Promise);
    const cap = await reading;
    expect(cap?.maxBudgetMicros).toBe(5_000_000);
    expect(directory.global()).toBe(cap);
    await deleteGlobalBudget(t.db);
  });

  it('remembers an unknown key as unknown, without asking for a tenant', async () => {
    const directory = new TenantDirectory(t.db, Date.now);
    expect(await directory.resolve('sk-bg-nobody')).toBeUndefined();
    expect(await directory.resolve('sk-bg-nobody')).toBeUndefined();
    expect(findKeyOwner).toHaveBeenCalledTimes(1);
    expect(getTenant).not.toHaveBeenCalled();
  });
});

describe('tenant directory without a database answer', () => {
  it('asks again after a failed lookup instead of remembering the failure', async () => {
    vi.mocked(findKeyOwner).mockClear();
    vi.mocked(findKeyOwner).mockRejectedValueOnce(new Error('database away'));
    vi.mocked(findKeyOwner).mockResolvedValueOnce(undefined);
    const directory = new TenantDirectory({} as never, Date.now);
    await expect(directory.resolve('sk-bg-someone')).rejects.toThrow('database away');
    expect(await directory.resolve('sk-bg-someone')).toBeUndefined();
    expect(findKeyOwner).toHaveBeenCalledTimes(2);
  });
});
